"""Schedules and samplers: the paper's schedule, DDPM = DDIM(eta=1) over all levels, reproducibility."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from nvs_fusion_ros.diffusion.samplers import (
    DDIMSampler,
    DDPMSampler,
    DPMSolverPP2MSampler,
    generators_from_seeds,
    make_sampler,
    reverse_process,
    spaced_levels,
)
from nvs_fusion_ros.diffusion.sampling_spec import SamplingSpec
from nvs_fusion_ros.diffusion.schedules import NoiseSchedule, linear_schedule, make_schedule


def test_linear_schedule_is_the_papers() -> None:
    s = linear_schedule()
    assert s.num_steps == 2000
    assert math.isclose(float(s.betas[0]), 1e-6) and math.isclose(float(s.betas[-1]), 1e-2)
    # γ_T = ∏(1-β) ≈ exp(-Σβ) ≈ exp(-10): the last level is (almost) pure noise.
    assert 1e-5 < float(s.gammas[-1]) < 1e-4
    assert bool((s.gammas[1:] < s.gammas[:-1]).all())


def test_schedule_round_trips_and_rejects_bad_betas() -> None:
    s = make_schedule("cosine", 50)
    again = NoiseSchedule.from_dict(s.to_dict())
    assert torch.equal(again.betas, s.betas)
    with pytest.raises(ValueError):
        NoiseSchedule.from_dict({"betas": [0.1, 1.5]})
    with pytest.raises(ValueError):
        make_schedule("quadratic")


def _linear_denoiser(y: torch.Tensor, t: int) -> torch.Tensor:
    """A fixed, non-trivial ε-predictor that depends on the level."""
    return torch.tanh(0.7 * y + 0.01 * t)


def test_ddpm_with_posterior_variance_equals_ddim_eta_one_over_all_levels() -> None:
    schedule = linear_schedule(1e-4, 0.05, 60)
    y_start = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    ddpm = DDPMSampler(schedule, variance="posterior", clip_denoised=False)
    ddim = DDIMSampler(schedule, steps=60, eta=1.0, clip_denoised=False)
    assert ddpm.levels() == ddim.levels()
    a = reverse_process(ddpm, _linear_denoiser, y_start, generators_from_seeds([1, 2])).result
    b = reverse_process(ddim, _linear_denoiser, y_start, generators_from_seeds([1, 2])).result
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_ddpm_beta_variance_follows_algorithm_2() -> None:
    schedule = linear_schedule(1e-3, 0.05, 5)
    y = torch.randn(1, 3, 2, 2, generator=torch.Generator().manual_seed(4))
    eps = _linear_denoiser(y, 4)
    ddpm = DDPMSampler(schedule, clip_denoised=False)
    ddpm.set_timesteps()
    assert ddpm.previous_level(4) == 3
    got = ddpm.step(eps, 4, y, generators_from_seeds([9]))
    alpha, gamma = float(schedule.alphas[4]), float(schedule.gammas[4])
    z = torch.randn(3, 2, 2, generator=torch.Generator().manual_seed(9))
    expected = (y - (1 - alpha) / math.sqrt(1 - gamma) * eps) / math.sqrt(alpha) + math.sqrt(1 - alpha) * z
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_ddim_is_deterministic_at_eta_zero_and_seeded_otherwise() -> None:
    schedule = linear_schedule(1e-4, 0.05, 100)
    y = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    def run(eta: float, seeds: list[int]) -> torch.Tensor:
        return reverse_process(DDIMSampler(schedule, 10, eta), _linear_denoiser, y, generators_from_seeds(seeds)).result

    assert torch.equal(run(0.0, [1, 2]), run(0.0, [3, 4]))
    assert torch.equal(run(0.5, [1, 2]), run(0.5, [1, 2]))
    assert not torch.equal(run(0.5, [1, 2]), run(0.5, [3, 4]))


def test_item_noise_does_not_depend_on_the_batch() -> None:
    schedule = linear_schedule(1e-4, 0.05, 30)
    y = torch.randn(3, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    batch = reverse_process(DDPMSampler(schedule), _linear_denoiser, y, generators_from_seeds([5, 6, 7])).result
    alone = reverse_process(DDPMSampler(schedule), _linear_denoiser, y[1:2], generators_from_seeds([6])).result
    torch.testing.assert_close(batch[1:2], alone)


def test_spaced_levels_and_partial_starts() -> None:
    assert spaced_levels(2000, 50)[0] == 1999 and spaced_levels(2000, 50)[-1] == 0
    assert len(spaced_levels(2000, 50)) == 50
    assert spaced_levels(2000, 10, start=400)[0] == 400
    assert spaced_levels(10, 50) == list(range(9, -1, -1))
    assert spaced_levels(2000, 1) == [1999], "one step must start from the noisiest level, not from 0"
    assert spaced_levels(2000, 1, start=300) == [300]
    with pytest.raises(ValueError):
        spaced_levels(100, 5, start=100)


def test_sampler_argument_errors() -> None:
    schedule = linear_schedule(1e-4, 0.05, 10)
    with pytest.raises(ValueError, match="unknown sampler"):
        make_sampler(SamplingSpec("euler"), schedule)
    assert make_sampler(SamplingSpec("ddpm", options={"variance": "posterior"}), schedule).variance == "posterior"
    with pytest.raises(ValueError, match="variance"):
        SamplingSpec("ddpm", options={"variance": "large"})
    with pytest.raises(ValueError, match="no option"):
        SamplingSpec("ddim", options={"spacing": "time"})
    with pytest.raises(ValueError, match="eta applies"):
        SamplingSpec("dpmpp2m", eta=0.5)
    with pytest.raises(ValueError, match="key=value"):
        SamplingSpec.build("ddpm", options=["variance"])
    with pytest.raises(ValueError):
        DDIMSampler(schedule, steps=0)
    with pytest.raises(ValueError):
        DDIMSampler(schedule, eta=2.0)
    with pytest.raises(ValueError):
        DDPMSampler(schedule, variance="large")


def test_a_perfect_denoiser_recovers_the_clean_image() -> None:
    """With the true ε of a known y0, DDIM(eta=0) lands on y0 from any start."""
    schedule = linear_schedule()
    y0 = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(1)) * 1.6 - 0.8
    y_T = torch.randn(1, 3, 4, 4, generator=torch.Generator().manual_seed(2))

    def true_eps(y: torch.Tensor, t: int) -> torch.Tensor:
        g = float(schedule.gammas[t])
        return (y - math.sqrt(g) * y0) / math.sqrt(1 - g)

    out = reverse_process(DDIMSampler(schedule, steps=20), true_eps, y_T, generators_from_seeds([0])).result
    torch.testing.assert_close(out, y0, rtol=0, atol=1e-4)


REFERENCE = Path(__file__).parent / "data" / "reverse_loop_reference.npz"


def _affine_eps(y: torch.Tensor, t: int) -> torch.Tensor:
    return 0.7 * y + 0.001 * t - 0.05


@pytest.mark.parametrize(("name", "sampler"), [
    ("ddpm_beta", lambda s: DDPMSampler(s)),
    ("ddpm_posterior", lambda s: DDPMSampler(s, variance="posterior")),
    ("ddim_eta0", lambda s: DDIMSampler(s, steps=7)),
    ("ddim_eta05", lambda s: DDIMSampler(s, steps=7, eta=0.5)),
    ("dpmpp2m_logsnr", lambda s: DPMSolverPP2MSampler(s, steps=6)),
    ("dpmpp2m_time", lambda s: DPMSolverPP2MSampler(s, steps=6, spacing="time")),
])
def test_the_reverse_loop_reproduces_the_stored_samples(name: str, sampler) -> None:
    """The samples the samplers drew before their levels and step() were opened up, bit for bit
    (elementwise arithmetic and CPU generators only, so any machine reproduces them)."""
    reference = np.load(REFERENCE)
    schedule = linear_schedule(1e-4, 0.05, 60)
    start = torch.from_numpy(reference["start"])
    for suffix, level in (("", None), ("_from30", 30)):
        run = reverse_process(sampler(schedule), _affine_eps, start, generators_from_seeds([3, 4]), start=level)
        steps = [state.done for state in run]
        assert steps == list(range(1, len(steps) + 1)) and len(steps) == len(sampler(schedule).levels(level))
        assert torch.equal(run.result, torch.from_numpy(reference[name + suffix])), name + suffix
