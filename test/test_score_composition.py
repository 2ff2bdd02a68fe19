"""The score-composition sampler (Diffusion² Algorithm 1) on an exact Gaussian case, its chunking,
and the ViewFusion / temporal adapters against per-cell reference loops."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import randomise_weights, randomised_tiny_model, torch_runner

from nvs_fusion_ros.diffusion.composition import compose_noise
from nvs_fusion_ros.diffusion.samplers import generators_from_seeds, spaced_levels
from nvs_fusion_ros.diffusion.schedules import linear_schedule, prediction_to_eps
from nvs_fusion_ros.diffusion.score_composition import clean_from_eps, renoise, sample_matrix
from nvs_fusion_ros.engines.torch_engine import TorchDenoiser
from nvs_fusion_ros.model.temporal_unet import TemporalUNet, temporal_preset
from nvs_fusion_ros.synthesis.video import time_denoiser, view_denoiser

SCHEDULE = linear_schedule()  # the paper's: T = 2000, γ_T ≈ 4.5e-5
VARIANCE = 0.04  # per-pixel data variance v (std 0.2)
FRAMES, CELL = 2, (3, 4, 4)


def gaussian_denoiser(mean: torch.Tensor, rows: bool):
    """Exact posterior mean E[x0 | y_t] for data N(mean, v) per pixel, as a matrix denoiser.

    y_t = √γ x0 + √(1-γ) z gives E[x0 | y_t] = μ + k_t (y_t - √γ μ), k_t = √γ v / (γ v + 1 - γ).
    ``mean`` is (F, C, H, W); a row denoiser gets frame slices, a column denoiser all frames.
    """

    def denoise(y: torch.Tensor, t: int, index: slice) -> torch.Tensor:
        g = float(SCHEDULE.gammas[t])
        mu = mean[index] if rows else mean
        return mu + g**0.5 * VARIANCE / (g * VARIANCE + 1 - g) * (y - g**0.5 * mu)

    return denoise


def predicted_moments(steps: int, rollback_steps: int = 0, mode: str = "paper") -> tuple[float, float]:
    """Exact mean factor and variance of the composed deterministic sampler's output on the Gaussian case.

    Derivation. Both denoisers are affine in μ with the same slope k_t (equal variance v), so
    s·D_A + (1-s)·D_B is exactly the posterior mean for N(μ̄, v), μ̄ = s μ_A + (1-s) μ_B: the
    composed VP-DDIM ODE is the probability-flow ODE of N(μ̄, v), whose end point is N(μ̄, v) in
    the continuum limit. With finitely many steps, write d = y_t - √γ_t μ̄. One DDIM step
    (x̂0 = μ̄ + k d, ε̂ = (y - √γ x̂0)/√(1-γ), y' = √γ' x̂0 + √(1-γ') ε̂) gives d' = c d with
    c = √γ' k + √(1-γ') (1 - √γ k)/√(1-γ). A re-noise to the noisier level gives
    d_t = r d_prev + b z, r = √(γ_t/γ_prev), b = √(1-r²) (forward) or √γ_t (σ_t - σ_prev) (paper).
    Starting from y_T ~ N(0, 1): E[d] = -√γ_T μ̄, Var[d] = 1. The output is x0 = μ̄ + d, so
    E[x0] = (1 + a) μ̄ with a the propagated mean factor, and Var[x0] the propagated variance.
    """

    def gamma(t: int) -> float:
        return 1.0 if t < 0 else float(SCHEDULE.gammas[t])

    levels = spaced_levels(SCHEDULE.num_steps, steps)
    mean, var = -math.sqrt(gamma(levels[0])), 1.0
    for i, t in enumerate(levels):
        t_prev = levels[i + 1] if i + 1 < len(levels) else -1
        g, gp = gamma(t), gamma(t_prev)
        k = g**0.5 * VARIANCE / (g * VARIANCE + 1 - g)
        c = gp**0.5 * k + (1 - gp) ** 0.5 * (1 - g**0.5 * k) / (1 - g) ** 0.5
        for j in range(2 if i < rollback_steps else 1):
            mean, var = c * mean, c * c * var
            if j == 0 and i < rollback_steps:
                r = (g / gp) ** 0.5
                sigma = ((1 - g) / g) ** 0.5 - ((1 - gp) / gp) ** 0.5
                b = (1 - r * r) ** 0.5 if mode == "forward" else g**0.5 * sigma
                mean, var = r * mean, r * r * var + b * b
    return 1.0 + mean, var


def run_gaussian(steps: int, columns: int = 512, rollback_steps: int = 0, mode: str = "paper", weight: float = 0.3):
    torch.manual_seed(0)
    mean_a, mean_b = torch.rand(FRAMES, *CELL) - 0.5, torch.rand(FRAMES, *CELL) - 0.5
    out = sample_matrix(
        gaussian_denoiser(mean_a, rows=True), gaussian_denoiser(mean_b, rows=False), SCHEDULE,
        (columns, FRAMES, *CELL), generators_from_seeds(range(columns)), steps=steps, weight=weight,
        rollback_steps=rollback_steps, renoise_mode=mode, clip_denoised=False,
    ).result
    return out, weight * mean_a + (1 - weight) * mean_b, (mean_a, mean_b)


def assert_moments(out: torch.Tensor, target_mean: torch.Tensor, factor: float, variance: float) -> None:
    """Per-pixel mean within 5 standard errors; variance pooled over pixels within 5 %."""
    columns = out.shape[0]
    stderr = math.sqrt(variance / columns)
    assert (out.mean(0) - factor * target_mean).abs().max() < 5 * stderr
    assert out.var(0).mean().item() == pytest.approx(variance, rel=0.05)


def test_prediction_reaches_the_composed_gaussian_in_the_continuum_limit() -> None:
    # The exact discrete answer tends to N(s μ_A + (1-s) μ_B, v) as the steps approach T.
    factor, var = predicted_moments(SCHEDULE.num_steps)
    assert factor == pytest.approx(1.0, abs=0.01) and var == pytest.approx(VARIANCE, rel=0.01)
    assert predicted_moments(50)[1] < 0.85 * VARIANCE  # 50 Euler steps undershoot: why the tests use the exact recursion


def test_composed_sampler_ends_at_the_mixed_mean_with_the_predicted_variance() -> None:
    out, target, means = run_gaussian(steps=200)
    factor, var = predicted_moments(200)
    assert var == pytest.approx(VARIANCE, rel=0.07)
    assert_moments(out, target, factor, var)
    for own in means:  # neither denoiser's own mean: the composition really mixes them
        assert (out.mean(0) - own).abs().mean() > 0.05


def test_forward_rollback_keeps_the_answer() -> None:
    out, target, _ = run_gaussian(steps=100, rollback_steps=5, mode="forward")
    factor, var = predicted_moments(100, rollback_steps=5, mode="forward")
    assert var == pytest.approx(predicted_moments(100)[1], rel=0.02)
    assert_moments(out, target, factor, var)


def test_paper_rollback_keeps_the_mean_and_reduces_the_variance() -> None:
    out, target, _ = run_gaussian(steps=100, rollback_steps=5, mode="paper")
    factor, var = predicted_moments(100, rollback_steps=5, mode="paper")
    assert var < 0.5 * predicted_moments(100)[1]
    assert_moments(out, target, factor, var)


def test_renoise_forward_has_the_marginal_variance_and_paper_less() -> None:
    y = torch.zeros(1, 20000)
    noise = torch.randn(1, 20000, generator=torch.Generator().manual_seed(1))
    g_t, g_prev = 0.2, 0.5
    assert renoise(y, g_t, g_prev, noise, "forward").var().item() == pytest.approx(1 - g_t / g_prev, rel=0.03)
    paper = renoise(y, g_t, g_prev, noise, "paper").var().item()
    sigma_t, sigma_prev = math.sqrt((1 - g_t) / g_t), math.sqrt((1 - g_prev) / g_prev)
    assert paper == pytest.approx(g_t * (sigma_t - sigma_prev) ** 2, rel=0.03)
    with pytest.raises(ValueError, match="re-noise mode"):
        renoise(y, g_t, g_prev, noise, "bogus")


def coupled_denoiser(axis: int):
    """A non-linear denoiser that mixes the cells of each row (axis=1 groups frames: mixes views) or column."""

    def denoise(y: torch.Tensor, t: int, index: slice) -> torch.Tensor:
        position = torch.arange(index.start, index.stop, dtype=y.dtype)  # which rows/columns this block holds
        shape = [1] * y.dim()
        shape[axis] = len(position)
        return torch.tanh(y + y.mean(dim=1 - axis, keepdim=True) * 0.5 + 0.1 * position.view(shape))

    return denoise


def test_chunking_and_seeds_do_not_change_the_matrix() -> None:
    kwargs = dict(schedule=SCHEDULE, shape=(3, 4, 1, 2, 2), steps=8, rollback_steps=2)
    whole = sample_matrix(coupled_denoiser(1), coupled_denoiser(0), generators=generators_from_seeds(range(3)),
                          max_cells=1000, **kwargs).result
    cell_by_cell = sample_matrix(coupled_denoiser(1), coupled_denoiser(0), generators=generators_from_seeds(range(3)),
                                 max_cells=1, **kwargs).result
    torch.testing.assert_close(whole, cell_by_cell)
    other_seeds = sample_matrix(coupled_denoiser(1), coupled_denoiser(0), generators=generators_from_seeds([7, 8, 9]),
                                max_cells=1000, **kwargs).result
    assert not torch.allclose(whole, other_seeds)


def test_bad_arguments_raise_clear_errors() -> None:
    args = (coupled_denoiser(1), coupled_denoiser(0), SCHEDULE, (2, 2, 1, 2, 2), generators_from_seeds(range(2)))
    with pytest.raises(ValueError, match="weight s"):
        list(sample_matrix(*args, steps=2, weight=lambda t: 1.5))
    with pytest.raises(ValueError, match="generator per batch item"):
        list(sample_matrix(*args[:4], generators_from_seeds([1]), steps=2))
    with pytest.raises(ValueError, match="max_cells"):
        list(sample_matrix(*args, steps=2, max_cells=0))
    with pytest.raises(ValueError, match=r"\(V, F, C, H, W\)"):
        list(sample_matrix(*args[:3], (2, 2, 2), args[4], steps=2))


# --------------------------------------------------------------------------- adapters vs per-cell loops

SMALL_SCHEDULE = linear_schedule(1e-4, 0.1, 100)


def random_temporal_model(seed: int = 0) -> TemporalUNet:
    return randomise_weights(TemporalUNet(temporal_preset("temporal-tiny")), seed)


def test_view_denoiser_rows_batch_equals_a_per_cell_loop() -> None:
    denoiser = TorchDenoiser(randomised_tiny_model(), "cpu", bf16=False)
    gen = torch.Generator().manual_seed(0)
    views, frames, size = 3, 2, denoiser.image_size
    frame_views = [torch.rand(n, 3, size, size, generator=gen) * 2 - 1 for n in (2, 1)]
    angles = torch.tensor([0.0, 1.0, 2.5])
    noisy = torch.randn(views, frames, 3, size, size, generator=gen)
    t = 60
    batched = view_denoiser(torch_runner(denoiser.model, SMALL_SCHEDULE, max_batch=4), frame_views, angles)(
        noisy, t, slice(0, frames))
    gamma = float(SMALL_SCHEDULE.gammas[t])
    for v in range(views):
        for f in range(frames):
            n = len(frame_views[f])
            y = noisy[v, f][None]
            pred, logits = denoiser(frame_views[f], y.expand(n, -1, -1, -1), angles[v].expand(n),
                                    SMALL_SCHEDULE.gamma(t).expand(n))
            composite, _ = compose_noise(pred, logits, torch.tensor([n]))
            expected = clean_from_eps(y, prediction_to_eps(denoiser.prediction, composite, y, gamma), gamma)
            torch.testing.assert_close(batched[v, f], expected[0], atol=1e-5, rtol=1e-5)
    # A block of one row picks that frame's views.
    row = view_denoiser(torch_runner(denoiser.model, SMALL_SCHEDULE), frame_views, angles)(noisy[:, 1:], t, slice(1, 2))
    torch.testing.assert_close(row, batched[:, 1:], atol=1e-5, rtol=1e-5)


def test_time_denoiser_columns_batch_equals_a_per_column_loop() -> None:
    model = random_temporal_model()
    gen = torch.Generator().manual_seed(1)
    views, frames, size = 3, 4, model.config.image_size
    first = torch.rand(views, 3, size, size, generator=gen) * 2 - 1
    angles = torch.tensor([0.3, 1.3, 4.0])
    noisy = torch.randn(views, frames, 3, size, size, generator=gen)
    t = 40
    batched = time_denoiser(model, SMALL_SCHEDULE, first, angles)(noisy, t, slice(0, views))
    gamma = float(SMALL_SCHEDULE.gammas[t])
    with torch.no_grad():
        for v in range(views):
            out = model(noisy[v][None], first[v][None], angles[v][None], SMALL_SCHEDULE.gamma(t)[None])
            expected = clean_from_eps(noisy[v], prediction_to_eps("v", out[0], noisy[v], gamma), gamma)
            torch.testing.assert_close(batched[v], expected, atol=1e-5, rtol=1e-5)
    tail = time_denoiser(model, SMALL_SCHEDULE, first, angles)(noisy[2:], t, slice(2, 3))
    torch.testing.assert_close(tail, batched[2:], atol=1e-5, rtol=1e-5)


def test_matrix_from_both_models_is_chunk_invariant_and_in_range() -> None:
    model = random_temporal_model()
    size = model.config.image_size
    gen = torch.Generator().manual_seed(2)
    frame_views = [torch.rand(1, 3, size, size, generator=gen) * 2 - 1 for _ in range(3)]
    angles = torch.tensor([0.0, math.pi])
    first = torch.rand(2, 3, size, size, generator=gen) * 2 - 1
    d_view = view_denoiser(torch_runner(randomised_tiny_model(), SMALL_SCHEDULE), frame_views, angles)
    d_time = time_denoiser(model, SMALL_SCHEDULE, first, angles)
    results = [
        sample_matrix(d_view, d_time, SMALL_SCHEDULE, (2, 3, 3, size, size), generators_from_seeds([4, 5]), steps=4,
                      rollback_steps=1, max_cells=max_cells).result
        for max_cells in (1, 100)
    ]
    torch.testing.assert_close(results[0], results[1], atol=1e-5, rtol=1e-5)
    assert results[0].abs().max() <= 1.0 and torch.isfinite(results[0]).all()


@pytest.mark.parametrize("mode", ["forward", "paper"])
def test_the_matrix_reverse_loop_reproduces_the_stored_samples(mode: str) -> None:
    """The matrices sample_matrix drew before it ran on the samplers' one reverse loop, bit for bit."""
    reference = np.load(Path(__file__).parent / "data" / "reverse_loop_reference.npz")
    run = sample_matrix(lambda block, t, index: 0.8 * block - 0.01 * t / 60, lambda block, t, index: 0.5 * block + 0.1,
                        linear_schedule(1e-4, 0.05, 60), (2, 3, 3, 4, 4), generators_from_seeds([5, 6]), steps=9,
                        weight=0.6, rollback_steps=3, renoise_mode=mode, max_cells=4)
    assert [state.done for state in run] == list(range(1, 10))
    assert torch.equal(run.result, torch.from_numpy(reference["matrix_" + mode]))
