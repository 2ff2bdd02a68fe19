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
    reverse_process,
)
from nvs_fusion_ros.diffusion.sampling_spec import SamplingSpec
from nvs_fusion_ros.diffusion.schedules import NoiseSchedule, linear_schedule

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
        out = reverse_process(sampler, gaussian_eps(schedule), y, generators_from_seeds(range(items))).result
        moments[sampler.name] = out.mean(dim=0), out.std(dim=0)
        assert (moments[sampler.name][0] - MU[0]).abs().max().item() < mean_tol, sampler.name
        assert (moments[sampler.name][1] - STD).abs().max().item() < std_tol, sampler.name
    torch.testing.assert_close(moments["dpmpp2m"][0], moments["ddim"][0], rtol=0, atol=mean_tol)
    torch.testing.assert_close(moments["dpmpp2m"][1], moments["ddim"][1], rtol=0, atol=std_tol)


#: Largest error (max abs over 64 starts, seed 1) against the exact ODE endpoint, measured with this
#: file's toy on the paper's linear schedule (T = 2000), float64:
#:
#: | steps | DPM-Solver++(2M), log-SNR | DPM-Solver++(2M), time | DDIM     | DDIM / log-SNR | time / log-SNR |
#: |------:|---------------------------:|-----------------------:|---------:|---------------:|---------------:|
#: |     5 | 1.51e-01                   | 2.91e-01               | 5.84e-01 |  3.9x          |   1.9x         |
#: |    10 | 2.81e-02                   | 2.53e-01               | 3.95e-01 | 14.1x          |   9.0x         |
#: |    25 | 1.03e-02                   | 4.64e-01               | 1.76e-01 | 17.1x          |  45.0x         |
#: |    50 | 2.75e-03                   | 2.60e-01               | 9.06e-02 | 32.9x          |  94.6x         |
#: |   100 | 7.64e-04                   | 9.01e-02               | 4.61e-02 | 60.3x          | 117.9x         |
#:
#: With time spacing the solver is even worse than DDIM from 25 steps on (a few huge λ-steps at the
#: clean end, where the linear extrapolation overshoots): the reason log-SNR spacing is the default.
STEP_COUNTS = (5, 10, 25, 50, 100)


def ode_errors(spacing: str | None) -> dict[int, float]:
    """Max abs error against the exact ODE endpoint: DPM-Solver++(2M) with ``spacing``, or DDIM (None)."""
    schedule = linear_schedule()
    y = start_noise(64, seed=1)
    exact = exact_ode_endpoint(schedule, y)
    errors = {}
    for steps in STEP_COUNTS:
        if spacing is None:
            sampler = DDIMSampler(schedule, steps=steps, clip_denoised=False)
        else:
            sampler = DPMSolverPP2MSampler(schedule, steps=steps, spacing=spacing, clip_denoised=False)
        errors[steps] = (reverse_process(sampler, gaussian_eps(schedule), y, []).result - exact).abs().max().item()
    return errors


def test_converges_to_the_ode_solution_at_least_10x_closer_than_ddim() -> None:
    fast, ddim = ode_errors("logsnr"), ode_errors(None)
    assert all(b < a for a, b in itertools.pairwise(fast.values())), fast
    assert fast[100] < 2e-3, fast
    ratios = {steps: ddim[steps] / fast[steps] for steps in STEP_COUNTS}
    assert all(ratios[steps] >= 10 for steps in (25, 50, 100)), ratios  # measured 17x, 33x, 60x


def test_log_snr_spacing_beats_time_spacing() -> None:
    log_snr, time = ode_errors("logsnr"), ode_errors("time")
    ratios = {steps: time[steps] / log_snr[steps] for steps in STEP_COUNTS}
    assert all(ratios[steps] >= 5 for steps in (10, 25, 50, 100)), ratios  # measured 9x, 45x, 95x, 118x


def test_first_step_is_ddim_and_state_is_reset_between_trajectories() -> None:
    schedule = linear_schedule(1e-4, 0.05, 60)
    y = start_noise(2)
    eps_fn = gaussian_eps(schedule)
    fast = DPMSolverPP2MSampler(schedule, steps=8, spacing="time", clip_denoised=False)
    ddim = DDIMSampler(schedule, steps=8, clip_denoised=False)
    fast.set_timesteps()
    ddim.set_timesteps()
    levels = fast.timesteps
    assert levels == ddim.timesteps
    first = fast.step(eps_fn(y, levels[0]), levels[0], y, [])
    torch.testing.assert_close(first, ddim.step(eps_fn(y, levels[0]), levels[0], y, []))
    a = reverse_process(fast, eps_fn, y, []).result
    b = reverse_process(fast, eps_fn, y, []).result  # a leftover previous prediction would change the first step
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
    assert isinstance(SAMPLERS["dpmpp2m"](schedule, SamplingSpec("dpmpp2m", 12)), DPMSolverPP2MSampler)
    sampler = make_sampler(SamplingSpec("dpmpp2m", 12, options={"spacing": "time", "order": "1"}), schedule)
    assert isinstance(sampler, DPMSolverPP2MSampler) and len(sampler.levels()) == 12
    assert (sampler.spacing, sampler.order) == ("time", 1)
    with pytest.raises(ValueError, match="dpmpp2m"):  # the registry's names are what an unknown name is told
        SamplingSpec("dpm-solver")
    with pytest.raises(ValueError, match="spacing"):
        SamplingSpec("dpmpp2m", options={"spacing": "karras"})
    with pytest.raises(ValueError, match="spacing"):
        DPMSolverPP2MSampler(schedule, spacing="karras")
    with pytest.raises(ValueError, match="at least one step"):
        DPMSolverPP2MSampler(schedule, steps=0)
