"""The training recipe: where its levels fall, and what Min-SNR weighting does to each level's loss."""

from __future__ import annotations

import pytest
import torch

from nvs_fusion_ros.diffusion.schedules import linear_schedule, prediction_target, prediction_to_eps
from nvs_fusion_ros.training.recipe import Recipe, log_snr, log_snr_fractions
from nvs_fusion_ros.training.train import TrainConfig


def test_log_normal_levels_leave_the_pure_noise_end_that_uniform_levels_spend_a_third_on() -> None:
    schedule = linear_schedule()
    uniform = log_snr_fractions(schedule, Recipe())
    assert uniform["below_-5"] == pytest.approx(0.29, abs=0.01) and uniform["within_-3_3"] == pytest.approx(0.48, abs=0.01)
    centred = log_snr_fractions(schedule, Recipe(timesteps="log-normal"))
    assert centred["below_-5"] < 0.01 and centred["within_-3_3"] > uniform["within_-3_3"] + 0.08


def test_min_snr_for_v_prediction_takes_the_loss_off_the_noisiest_levels() -> None:
    """Min-SNR's v-weight is about SNR at high noise: the levels that decide an object's layout lose their loss."""
    schedule = linear_schedule()
    shares = {(timesteps, weighting): log_snr_fractions(schedule, Recipe(timesteps, weighting))["loss_below_-4"]
              for timesteps in ("uniform", "log-normal") for weighting in ("none", "min-snr")}
    assert shares["uniform", "none"] == pytest.approx(0.37, abs=0.01)  # the paper's: a weight of 1 on every draw
    assert shares["uniform", "min-snr"] < 0.01
    assert shares["log-normal", "min-snr"] < 0.001 < shares["log-normal", "none"] < 0.01


def test_log_normal_levels_follow_sigma() -> None:
    """The median level's σ is exp(P_mean): half the draws are less noisy than σ = e^-1.2."""
    schedule = linear_schedule()
    t = Recipe(timesteps="log-normal").draw(schedule, 50_000, torch.Generator().manual_seed(0))
    median_log_sigma = float((-0.5 * log_snr(schedule, t)).median())
    assert median_log_sigma == pytest.approx(-1.2, abs=0.05)


@pytest.mark.parametrize("prediction", ["v", "eps"])
def test_min_snr_weighted_loss_is_the_clean_image_loss_capped_at_gamma(prediction: str) -> None:
    """Whatever the network predicts, weight x its loss = min(SNR, γ) x the implied clean image's squared error."""
    schedule = linear_schedule()
    g = torch.Generator().manual_seed(0)
    t = torch.tensor([10, 300, 900, 1900])
    gamma = schedule.gamma(t).view(-1, 1, 1, 1).double()
    x0 = torch.rand(4, 3, 8, 8, generator=g, dtype=torch.float64) * 2 - 1
    eps = torch.randn(4, 3, 8, 8, generator=g, dtype=torch.float64)
    y_t = gamma.sqrt() * x0 + (1 - gamma).sqrt() * eps
    truth = prediction_target(prediction, x0, eps, gamma)
    guess = truth + 0.1 * torch.randn(truth.shape, generator=g, dtype=torch.float64)
    x0_guess = (y_t - (1 - gamma).sqrt() * prediction_to_eps(prediction, guess, y_t, gamma)) / gamma.sqrt()
    weights = Recipe(weighting="min-snr", min_snr_gamma=5.0).weights(schedule.gamma(t), prediction).double()
    weighted = weights * ((guess - truth) ** 2).flatten(1).mean(1)
    snr = log_snr(schedule, t).exp()
    torch.testing.assert_close(weighted, snr.clamp(max=5.0) * ((x0_guess - x0) ** 2).flatten(1).mean(1), rtol=2e-3, atol=1e-9)
    assert torch.equal(Recipe().weights(schedule.gamma(t), prediction), torch.ones(4))


def test_unknown_recipe_names_are_refused_when_the_run_is_configured() -> None:
    with pytest.raises(ValueError, match="timestep distribution"):
        TrainConfig(data="", out="", timesteps="cosine")
    with pytest.raises(ValueError, match="loss weighting"):
        TrainConfig(data="", out="", loss_weighting="p2")
    with pytest.raises(ValueError, match="extra_ema_decay"):
        TrainConfig(data="", out="", extra_ema_decay=1.0)
