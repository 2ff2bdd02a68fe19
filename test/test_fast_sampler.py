"""DPM-Solver++(2M) against a toy diffusion with a closed-form answer.

Data y_0 ~ N(μ, s²) independently per pixel. Then y_t ~ N(√γ μ, γ s² + 1 - γ), the exact
noise prediction is E[ε | y_t] = √(1-γ) (y_t - √γ μ) / (γ s² + 1 - γ), and the
probability-flow ODE keeps the standardised value (y_t - √γ μ) / √(γ s² + 1 - γ) constant,
so the ODE's clean endpoint from any start is known exactly.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from nvs_fusion_ros.diffusion.samplers import (
    SAMPLERS,
    DDIMSampler,
    DPMSolverPP2MSampler,
    generators_from_seeds,
    log_snr_levels,
    make_sampler,
)
from nvs_fusion_ros.diffusion.schedules import NoiseSchedule, linear_schedule
from nvs_fusion_ros.synthesis.synthesizer import NovelViewSynthesizer

MU = torch.linspace(-0.5, 0.5, 16, dtype=torch.float64).view(1, 1, 4, 4)
STD = 0.2


def gaussian_eps(schedule: NoiseSchedule):
    """The exact ε-prediction for data N(MU, STD²) per pixel."""

    def eps_fn(y: torch.Tensor, t: int) -> torch.Tensor:
        g = float(schedule.gammas[t])
        return (1 - g) ** 0.5 * (y - g**0.5 * MU) / (g * STD**2 + 1 - g)

    return eps_fn


def exact_ode_endpoint(schedule: NoiseSchedule, y_start: torch.Tensor) -> torch.Tensor:
    g = float(schedule.gammas[-1])
    return MU + STD * (y_start - g**0.5 * MU) / (g * STD**2 + 1 - g) ** 0.5


def start_noise(items: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(items, 1, 4, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_matches_the_data_distribution_like_ddim() -> None:
    """25 DPM-Solver++ steps give the data's per-pixel mean and std, as 200 DDIM steps do."""
    schedule = linear_schedule()
    y = start_noise(3000)
    items = y.shape[0]
    # 5 standard errors of a sample mean / std over ``items`` draws, plus a little discretisation error.
    mean_tol, std_tol = 5 * STD / items**0.5 + 0.005, 5 * STD / (2 * items) ** 0.5 + 0.005
    moments = {}
    for sampler in (DPMSolverPP2MSampler(schedule, steps=25), DDIMSampler(schedule, steps=200)):
        out = sampler.sample(gaussian_eps(schedule), y, generators_from_seeds(range(items)))
        moments[sampler.name] = out.mean(dim=0), out.std(dim=0)
        assert (moments[sampler.name][0] - MU[0]).abs().max().item() < mean_tol, sampler.name
        assert (moments[sampler.name][1] - STD).abs().max().item() < std_tol, sampler.name
    torch.testing.assert_close(moments["dpmpp2m"][0], moments["ddim"][0], rtol=0, atol=mean_tol)
    torch.testing.assert_close(moments["dpmpp2m"][1], moments["ddim"][1], rtol=0, atol=std_tol)


def test_converges_to_the_ode_solution_faster_than_ddim() -> None:
    schedule = linear_schedule()
    y = start_noise(64, seed=1)
    exact = exact_ode_endpoint(schedule, y)
    errors = {}
    for steps in (5, 10, 25, 50, 100):
        fast = DPMSolverPP2MSampler(schedule, steps=steps, clip_denoised=False).sample(gaussian_eps(schedule), y, [])
        ddim = DDIMSampler(schedule, steps=steps, clip_denoised=False).sample(gaussian_eps(schedule), y, [])
        errors[steps] = ((fast - exact).abs().max().item(), (ddim - exact).abs().max().item())
    fast_errors = [e[0] for e in errors.values()]
    assert all(b < a for a, b in itertools.pairwise(fast_errors)), errors
    assert all(fast < ddim for fast, ddim in errors.values()), errors
    assert fast_errors[-1] < 2e-3, errors


def test_first_step_is_ddim_and_state_is_reset_between_trajectories() -> None:
    schedule = linear_schedule(1e-4, 0.05, 60)
    y = start_noise(2)
    eps_fn = gaussian_eps(schedule)
    fast = DPMSolverPP2MSampler(schedule, steps=8, spacing="time", clip_denoised=False)
    ddim = DDIMSampler(schedule, steps=8, clip_denoised=False)
    levels = fast.timesteps()
    assert levels == ddim.timesteps()
    first = fast.step(y, eps_fn(y, levels[0]), levels[0], levels[1], [])
    torch.testing.assert_close(first, ddim.step(y, eps_fn(y, levels[0]), levels[0], levels[1], []))
    a = fast.sample(eps_fn, y, [])
    b = fast.sample(eps_fn, y, [])  # a leftover previous prediction would change the first step
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_log_snr_levels_are_even_in_log_snr() -> None:
    schedule = linear_schedule()
    levels = log_snr_levels(schedule, 10)
    assert levels[0] == schedule.num_steps - 1 and levels[-1] == 0 and len(levels) == 10
    gammas = schedule.gammas[levels]
    lam = 0.5 * (torch.log(gammas) - torch.log1p(-gammas))
    gaps = (lam[1:] - lam[:-1])[:-2]  # the last gaps are set by the schedule's discreteness at the clean end
    assert float(gaps.max() - gaps.min()) < 0.05 * float(gaps.mean())
    assert log_snr_levels(schedule, 5, start=99)[0] == 99
    with pytest.raises(ValueError, match="outside"):
        log_snr_levels(schedule, 5, start=5000)


def test_registered_and_validated() -> None:
    schedule = linear_schedule()
    assert SAMPLERS["dpmpp2m"] is DPMSolverPP2MSampler
    sampler = make_sampler("dpmpp2m", schedule, steps=12)
    assert isinstance(sampler, DPMSolverPP2MSampler) and len(sampler.timesteps()) == 12
    assert "dpmpp2m" in NovelViewSynthesizer.SAMPLERS
    with pytest.raises(ValueError, match="spacing"):
        DPMSolverPP2MSampler(schedule, spacing="karras")
    with pytest.raises(ValueError, match="at least one step"):
        DPMSolverPP2MSampler(schedule, steps=0)
