"""Camera-relative targets and the pixel-unshuffle stem (issue: a model for the robot's own viewpoint).

A relative-mode model measures the target angle from an anchor view, and each stream sees its
view ⊕ the anchor. These tests pin the properties the product relies on: the anchor choice is
honoured, the order of the other views does not matter, the data pipeline's angles do not depend
on the object's yaw, any finite angle is wrapped, and 64x64 goes in and out on every CPU engine.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import randomise_weights, torch_runner

from nvs_fusion_ros import cameras
from nvs_fusion_ros.datasets.nmr_dataset import NMRViews
from nvs_fusion_ros.diffusion.samplers import DDIMSampler, generators_from_seeds
from nvs_fusion_ros.diffusion.sampling_spec import SamplingSpec
from nvs_fusion_ros.diffusion.schedules import linear_schedule
from nvs_fusion_ros.diffusion.streams import stream_conditions
from nvs_fusion_ros.model.checkpoint import load_checkpoint, save_checkpoint
from nvs_fusion_ros.model.config import UNetConfig, preset
from nvs_fusion_ros.model.transfer import grow_weights, lift_weights
from nvs_fusion_ros.model.unet import ViewFusionUNet
from nvs_fusion_ros.synthesis.runner import Conditioning
from nvs_fusion_ros.synthesis.synthesizer import NovelViewSynthesizer

SCHEDULE = linear_schedule(1e-4, 0.1, 100)


def relative_tiny(pixel_unshuffle: int = 1, seed: int = 0) -> ViewFusionUNet:
    config = replace(preset("tiny"), angle_reference="relative", pixel_unshuffle=pixel_unshuffle)
    return randomise_weights(ViewFusionUNet(config), seed)


def random_views(count: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def sample(runner, conditioning: Conditioning, angle: float = 2.0):
    return runner.sample(conditioning, [angle] * len(conditioning), generators_from_seeds(range(len(conditioning))),
                         DDIMSampler(SCHEDULE, steps=4))


def test_config_knows_its_condition_channels_and_rejects_bad_values() -> None:
    assert preset("tiny").condition_channels == 3 and not preset("tiny").relative
    assert replace(preset("tiny"), angle_reference="relative").condition_channels == 6
    assert replace(preset("tiny"), angle_reference="relative").relative
    assert preset("cpu-64u").inner_size == 32 and preset("cpu-64u").image_size == 64
    with pytest.raises(ValueError, match="angle_reference"):
        replace(preset("tiny"), angle_reference="absolute")
    with pytest.raises(ValueError, match="pixel_unshuffle"):
        replace(preset("tiny"), pixel_unshuffle=3)
    assert UNetConfig.from_dict({k: v for k, v in preset("cpu-32").to_dict().items()
                                 if k not in ("angle_reference", "pixel_unshuffle")}).angle_reference == "canonical"


def test_stream_conditions_pair_every_view_with_its_items_anchor() -> None:
    views = random_views(5)
    counts, anchors = torch.tensor([2, 3]), torch.tensor([0, 2])
    conditions = stream_conditions(views, counts, anchors, relative=True)
    assert conditions.shape == (5, 6, 16, 16)
    assert torch.equal(conditions[:, :3], views)
    for stream, anchor in enumerate([0, 0, 4, 4, 4]):
        assert torch.equal(conditions[stream, 3:], views[anchor])
    assert stream_conditions(views, counts, anchors, relative=False) is views


def test_shuffling_the_other_views_leaves_the_composite_unchanged() -> None:
    runner = torch_runner(relative_tiny(), SCHEDULE)
    views = random_views(4)
    anchored_last = sample(runner, Conditioning.of([views]))
    shuffled = views[[2, 0, 1, 3]]  # the anchor (the last view) stays the anchor
    torch.testing.assert_close(sample(runner, Conditioning.of([shuffled])).images, anchored_last.images,
                               atol=1e-5, rtol=1e-5)
    # The same views with the anchor elsewhere, named by index, give the same image again.
    moved = views[[3, 0, 1, 2]]
    torch.testing.assert_close(sample(runner, Conditioning.of([moved], [0])).images, anchored_last.images,
                               atol=1e-5, rtol=1e-5)


def test_the_anchor_choice_is_honoured() -> None:
    runner = torch_runner(relative_tiny(), SCHEDULE)
    views = random_views(3)
    by_anchor = [sample(runner, Conditioning.of([views], [a])).images for a in range(3)]
    assert not torch.allclose(by_anchor[0], by_anchor[2], atol=1e-3)
    assert not torch.allclose(by_anchor[1], by_anchor[2], atol=1e-3)
    torch.testing.assert_close(sample(runner, Conditioning.of([views])).images, by_anchor[2])  # default: the newest


def test_any_finite_angle_is_wrapped_and_gives_a_finite_image() -> None:
    runner = torch_runner(relative_tiny(), SCHEDULE)
    conditioning = Conditioning.of([random_views(2)])
    for huge in (3.4e38, -1.7e38, 1e20):
        wrapped = math.remainder(huge, 2 * math.pi) % (2 * math.pi)
        out = sample(runner, conditioning, huge)
        assert torch.isfinite(out.images).all() and torch.isfinite(out.weights).all()
        torch.testing.assert_close(out.images, sample(runner, conditioning, wrapped).images, atol=1e-5, rtol=1e-5)


def test_relative_dataset_angles_do_not_depend_on_the_objects_yaw() -> None:
    """Turning the object by k views shifts every view index by k; relative angles stay the same (exactly)."""
    dataset = NMRViews.__new__(NMRViews)
    dataset.angle_reference = "relative"
    rng = np.random.default_rng(0)
    for _ in range(50):
        target, anchor, k = (int(x) for x in rng.integers(0, cameras.NMR_VIEW_COUNT, 3))
        turned = dataset.target_angle((target + k) % 24, (anchor + k) % 24)
        assert turned == pytest.approx(dataset.target_angle(target, anchor), abs=1e-12)
        assert 0.0 <= turned < 2 * math.pi
    assert dataset.target_angle(12, 0) == pytest.approx(math.pi)  # the hidden side of the anchor


def test_64px_unshuffle_model_in_and_out_on_torch_and_onnxruntime(tmp_path: Path) -> None:
    config = replace(preset("cpu-64u"), angle_reference="relative", inner_channels=8, channel_mults=(1, 2),
                     res_blocks=1, norm_groups=4, embedding_dim=16, angle_harmonics=4)
    path = save_checkpoint(tmp_path / "rel64.pt", randomise_weights(ViewFusionUNet(config), 1), SCHEDULE)
    rng = np.random.default_rng(0)
    views = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(3)]
    results = {engine: NovelViewSynthesizer.from_checkpoint(path, engine=engine, device="cpu").synthesize(
        views, math.pi, num_hypotheses=2, sampling=SamplingSpec(steps=3, seed=4)) for engine in ("torch", "onnxruntime")}
    for result in results.values():
        assert result.images.shape == (2, 64, 64, 3) and result.weights.shape == (3, 64, 64)
    difference = np.abs(results["torch"].images.astype(int) - results["onnxruntime"].images.astype(int))
    assert difference.mean() < 2.0  # torch may run bf16 autocast on this CPU; ONNX Runtime runs fp32


def test_a_canonical_checkpoint_still_loads_and_synthesizes(tiny_checkpoint: Path) -> None:
    checkpoint = load_checkpoint(tiny_checkpoint)
    assert checkpoint.config.angle_reference == "canonical"
    synth = NovelViewSynthesizer(checkpoint, torch_runner(checkpoint.model, checkpoint.schedule))
    views = [np.full((16, 16, 3), 200, np.uint8), np.zeros((16, 16, 3), np.uint8)]
    first = synth.synthesize(views, 1.0, anchor=0, sampling=SamplingSpec(steps=3, seed=0))
    assert np.array_equal(first.images, synth.synthesize(views, 1.0, anchor=1, sampling=SamplingSpec(steps=3, seed=0)).images)


def test_lifted_weights_compute_the_source_network_on_downsampled_images() -> None:
    """A canonical 16px network lifted into a relative 32px pixel-unshuffle one: at initialisation the
    new network is the old one on 2x2-averaged inputs, upsampled, whatever the anchor shows."""
    source = randomise_weights(ViewFusionUNet(preset("tiny")), 3)
    target = ViewFusionUNet(replace(preset("tiny"), image_size=32, angle_reference="relative", pixel_unshuffle=2))
    assert lift_weights(source, target) == ["conv_in.weight", "conv_out.bias", "conv_out.weight"]
    target.eval()
    g = torch.Generator().manual_seed(0)
    view, anchor, noisy = (torch.rand(2, 3, 32, 32, generator=g) * 2 - 1 for _ in range(3))
    angle, level = torch.tensor([0.5, 4.0]), torch.tensor([0.3, 0.9])
    with torch.no_grad():
        expected = source(F.avg_pool2d(view, 2), F.avg_pool2d(noisy, 2), angle, level)
        got = target(torch.cat([view, anchor], 1), noisy, angle, level)
    for e, o in zip(expected, got, strict=True):
        torch.testing.assert_close(o, F.interpolate(e, scale_factor=2, mode="nearest"), atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="differ"):
        lift_weights(randomise_weights(ViewFusionUNet(replace(preset("tiny"), res_blocks=2))), target)


def test_a_grown_middle_computes_the_source_network_until_it_trains() -> None:
    """Two more (attention, res block) pairs in the middle start as the identity: the grown network's output is the
    source's, and it differs once the new layers are no longer zero."""
    source = randomise_weights(ViewFusionUNet(replace(preset("tiny"), angle_reference="relative")), 5)
    target = ViewFusionUNet(replace(preset("tiny"), angle_reference="relative", mid_blocks=3))
    new = grow_weights(source, target)
    assert new and all(name.startswith(("mid.3.", "mid.4.", "mid.5.", "mid.6.")) for name in new)
    target.eval()
    g = torch.Generator().manual_seed(1)
    views, noisy = torch.rand(2, 6, 16, 16, generator=g) * 2 - 1, torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    angle, level = torch.tensor([0.5, 4.0]), torch.tensor([0.3, 0.9])
    with torch.no_grad():
        for e, o in zip(source(views, noisy, angle, level), target(views, noisy, angle, level), strict=True):
            torch.testing.assert_close(o, e, atol=1e-5, rtol=1e-5)
        target.mid[4].conv2.weight.normal_(std=0.2, generator=g)
        assert not torch.allclose(target(views, noisy, angle, level)[0], source(views, noisy, angle, level)[0], atol=1e-3)
    with pytest.raises(ValueError, match="more mid_blocks"):
        grow_weights(source, ViewFusionUNet(replace(preset("tiny"), angle_reference="relative", res_blocks=2, mid_blocks=3)))
    with pytest.raises(ValueError, match="mid_blocks"):
        UNetConfig(mid_blocks=0)
