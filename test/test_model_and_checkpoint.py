"""The U-Net's shapes and conditioning, and checkpoint save/load with clear errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from conftest import randomised_tiny_model

from nvs_fusion_ros.diffusion.schedules import linear_schedule
from nvs_fusion_ros.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from nvs_fusion_ros.model.config import PRESETS, UNetConfig, preset
from nvs_fusion_ros.model.unet import ViewFusionUNet


def _inputs(m: int, size: int = 16) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    return (torch.rand(m, 3, size, size, generator=g) * 2 - 1, torch.randn(m, 3, size, size, generator=g),
            torch.rand(m, generator=g) * 6, torch.rand(m, generator=g))


def test_output_is_noise_and_logits_per_stream() -> None:
    noise, logits = randomised_tiny_model()(*_inputs(5))
    assert noise.shape == logits.shape == (5, 3, 16, 16)


def test_paper_preset_matches_appendix_b1() -> None:
    c = preset("paper-64")
    assert (c.image_size, c.inner_channels, c.channel_mults, c.res_blocks, c.attention_resolutions) == (
        64, 64, (1, 2, 3, 5), 3, (16,))
    assert set(PRESETS) >= {"paper-64", "cpu-64", "cpu-32", "tiny"}
    with pytest.raises(ValueError, match="unknown model preset"):
        preset("huge")


def test_streams_are_independent_and_conditioning_matters() -> None:
    model = randomised_tiny_model()
    views, noisy, angle, level = _inputs(4)
    full = model(views, noisy, angle, level)[0]
    part = model(views[1:3], noisy[1:3], angle[1:3], level[1:3])[0]
    torch.testing.assert_close(full[1:3], part, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(model(views, noisy, angle + 1.0, level)[0], full, atol=1e-4)
    assert not torch.allclose(model(views, noisy, angle, level * 0.5)[0], full, atol=1e-4)
    # The azimuth encoding is periodic: ψ and ψ + 2π are the same target.
    torch.testing.assert_close(model(views, noisy, angle + 2 * math.pi, level)[0], full, rtol=1e-4, atol=1e-4)


def test_config_rejects_impossible_shapes() -> None:
    with pytest.raises(ValueError, match="not divisible"):
        UNetConfig(image_size=30, channel_mults=(1, 2, 2))
    with pytest.raises(ValueError, match="unknown"):
        UNetConfig.from_dict({"image_size": 16, "colour": 3})


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    model = randomised_tiny_model(seed=3)
    schedule = linear_schedule(1e-4, 0.1, 50)
    path = save_checkpoint(tmp_path / "m.pt", model, schedule, {"training_steps": 12})
    loaded = load_checkpoint(path)
    assert loaded.config == model.config and loaded.metadata == {"training_steps": 12}
    assert torch.equal(loaded.schedule.betas, schedule.betas)
    inputs = _inputs(2)
    torch.testing.assert_close(loaded.model(*inputs)[0], model(*inputs)[0])
    assert not (tmp_path / "m.pt.tmp").exists()


def test_missing_truncated_and_foreign_checkpoints_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nowhere.pt"):
        load_checkpoint(tmp_path / "nowhere.pt")
    good = save_checkpoint(tmp_path / "good.pt", randomised_tiny_model(), linear_schedule(1e-4, 0.1, 10))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"truncated.pt.*unreadable"):
        load_checkpoint(truncated)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"garbage.pt"):
        load_checkpoint(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match=r"foreign.pt is not a"):
        load_checkpoint(foreign)


def test_checkpoint_whose_weights_do_not_match_its_config(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "m.pt", randomised_tiny_model(), linear_schedule(1e-4, 0.1, 10))
    payload = torch.load(path, weights_only=True)
    payload["config"]["inner_channels"] = 16
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"m.pt does not match its config.*wrong shapes"):
        load_checkpoint(path)


def test_checkpoint_refuses_pickled_code(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "nvs_fusion_ros.viewfusion", "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match=r"evil.pt"):
        load_checkpoint(path)


def test_full_size_presets_build() -> None:
    for name in ("cpu-32", "cpu-64"):
        model = ViewFusionUNet(preset(name))
        assert 1e6 < sum(p.numel() for p in model.parameters()) < 2e7


def test_a_half_precision_checkpoint_is_half_the_size_and_loads_as_fp32(tmp_path: Path) -> None:
    model, schedule = randomised_tiny_model(), linear_schedule(1e-4, 0.1, 10)
    full = save_checkpoint(tmp_path / "full.pt", model, schedule)
    half = save_checkpoint(tmp_path / "half.pt", model, schedule, half=True)
    assert half.stat().st_size < 0.7 * full.stat().st_size
    loaded = load_checkpoint(half)
    for name, value in model.state_dict().items():
        got = loaded.model.state_dict()[name]
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, value, atol=2e-3, rtol=1e-3)
