"""Batched hypotheses: K samples x N views run as K·N streams per step, split at ``max_batch`` streams per engine call.

Chunking must not change any image (the network treats streams independently), and a
sample must not depend on its batch: sample k with seed s is the same image whether it
is computed alone or among K (one generator per sample, docs/DESIGN.md §6).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import randomised_tiny_model, torch_runner

from nvs_fusion_ros.diffusion.samplers import generators_from_seeds, make_sampler
from nvs_fusion_ros.diffusion.sampling_spec import SamplingSpec
from nvs_fusion_ros.diffusion.schedules import linear_schedule
from nvs_fusion_ros.model.checkpoint import load_checkpoint
from nvs_fusion_ros.synthesis.runner import Conditioning
from nvs_fusion_ros.synthesis.synthesizer import NovelViewSynthesizer

VIEWS, SAMPLES = 2, 3
SCHEDULE = linear_schedule(1e-4, 0.1, 100)


def _denoise(max_batch: int, seeds: list[int], sampler: str = "ddim"):
    """SAMPLES hypotheses (or fewer) of one target from the same VIEWS views, fp32 so only chunking differs."""
    runner = torch_runner(randomised_tiny_model(seed=1), SCHEDULE, max_batch)
    views = torch.rand(VIEWS, 3, 16, 16, generator=torch.Generator().manual_seed(5)) * 2 - 1
    k = len(seeds)
    return runner.sample(Conditioning.repeated(views, k), torch.full((k,), 1.3), generators_from_seeds(seeds),
                         make_sampler(SamplingSpec(sampler, 4, 1.0 if sampler == "ddim" else 0.0), SCHEDULE))


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["ddim", "dpmpp2m"])
def test_chunking_the_streams_does_not_change_the_images(sampler: str) -> None:
    seeds = [10, 11, 12]
    whole = _denoise(1000, seeds, sampler)
    assert whole.images.std(dim=0).mean() > 1e-3  # the hypotheses really differ (else the test proves nothing)
    for max_batch in (1, 4):  # one stream per call; chunks that split a sample's views
        chunked = _denoise(max_batch, seeds, sampler)
        torch.testing.assert_close(chunked.images, whole.images, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(chunked.weights, whole.weights, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_a_sample_does_not_depend_on_its_batch() -> None:
    seeds = [20, 21, 22]
    batch = _denoise(1000, seeds)
    for k, seed in enumerate(seeds):
        alone = _denoise(1000, [seed])
        torch.testing.assert_close(alone.images[0], batch.images[k], rtol=1e-4, atol=1e-4)


def test_synthesizer_hypotheses_are_reproducible_one_by_one(tiny_checkpoint: Path) -> None:
    checkpoint = load_checkpoint(tiny_checkpoint)
    rng = np.random.default_rng(0)
    views = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(VIEWS)]
    synth = NovelViewSynthesizer(checkpoint, torch_runner(checkpoint.model, checkpoint.schedule, max_batch=4))
    ancestral = SamplingSpec(sampler="ddim", steps=5, eta=1.0)
    together = synth.synthesize(views, 2.0, num_hypotheses=SAMPLES, sampling=ancestral.with_seed(7))
    assert together.seeds == [7, 8, 9]
    assert together.uncertainty.max() > 0
    for k in (0, SAMPLES - 1):
        alone = synth.synthesize(views, 2.0, num_hypotheses=1, sampling=ancestral.with_seed(7 + k))
        # uint8 images: allow one level of rounding difference from batch-size dependent float sums.
        assert np.abs(alone.images[0].astype(int) - together.images[k].astype(int)).max() <= 1
