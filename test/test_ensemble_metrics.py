"""Scores of a set of samples: fair CRPS, spread against skill, and whether the uncertainty ranks error."""

from __future__ import annotations

import numpy as np
import pytest

from nvs_fusion_ros.evaluation.ensemble_metrics import calibration, ensemble_scores, fair_crps
from nvs_fusion_ros.evaluation.image_metrics import psnr
from nvs_fusion_ros.synthesis.synthesizer import mean_image


def _bimodal(rng: np.random.Generator, count: int) -> np.ndarray:
    """Images whose every pixel is independently dark (51) or light (204) with probability 1/2."""
    return np.where(rng.random((count, 32, 32, 3)) < 0.5, 51, 204).astype(np.uint8)


def test_crps_of_one_sample_or_of_identical_samples_is_the_mean_absolute_error() -> None:
    rng = np.random.default_rng(0)
    truth, guess = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    mae = float(np.abs(guess / 255.0 - truth / 255.0).mean())
    assert fair_crps(guess[None], truth) == pytest.approx(mae)
    assert fair_crps(np.repeat(guess[None], 4, axis=0), truth) == pytest.approx(mae)


def test_a_sampler_of_the_true_distribution_beats_a_blur_on_crps_though_it_loses_on_psnr() -> None:
    """The reason for the score: the blur is the better single guess, the sampler the better distribution."""
    rng = np.random.default_rng(1)
    truth = _bimodal(rng, 1)[0]
    samples = _bimodal(rng, 4)
    blur = np.full_like(truth, 128)
    assert psnr(blur, truth) > psnr(samples[0], truth) + 2.5  # ~3 dB: one sample is worse than the mean guess
    assert fair_crps(samples, truth) < 0.6 * fair_crps(blur[None], truth)  # 0.15 against 0.30 in expectation


def test_a_calibrated_sampler_has_spread_equal_to_skill() -> None:
    rng = np.random.default_rng(2)
    scores = [ensemble_scores(_bimodal(rng, 4), _bimodal(rng, 1)[0]) for _ in range(20)]
    result = calibration(float(np.mean([s["variance"] for s in scores])), float(np.mean([s["mse_of_mean"] for s in scores])), 4)
    assert result["calibration"] == pytest.approx(1.0, abs=0.05)
    collapsed = [ensemble_scores(np.repeat(_bimodal(rng, 1), 4, axis=0), _bimodal(rng, 1)[0]) for _ in range(5)]
    over_confident = calibration(float(np.mean([s["variance"] for s in collapsed])),
                                 float(np.mean([s["mse_of_mean"] for s in collapsed])), 4)
    assert over_confident["calibration"] == 0.0 and over_confident["skill"] > 0.3  # agree with each other, not the truth


def test_an_uncertainty_that_marks_the_errors_ranks_them_and_one_that_does_not_scores_like_chance() -> None:
    """Where the samples disagree the mean is wrong: a perfect ranking has AUSE ~0 and Spearman > 0."""
    rng = np.random.default_rng(3)
    truth = np.full((32, 32, 3), 100, np.uint8)
    samples = np.repeat(truth[None], 4, axis=0).astype(np.int16)
    noisy = rng.random((32, 32)) < 0.3  # the samples scatter (and their mean is off) on 30 % of the pixels
    samples[:, noisy] += np.array([60, 20, 40, 80])[:, None, None]
    ranked = ensemble_scores(samples.clip(0, 255).astype(np.uint8), truth)
    assert ranked["spearman"] > 0.8 and ranked["ause"] < 0.05 < ranked["ause_random"]

    # errors where the samples agree, agreement where they are right: the uncertainty misleads
    misleading = np.repeat(truth[None], 4, axis=0).astype(np.int16)
    misleading[:, noisy] += 50
    misleading[:, ~noisy] += np.array([-3, 3, -3, 3])[:, None, None]
    scores = ensemble_scores(misleading.astype(np.uint8), truth)
    assert scores["spearman"] < 0 and scores["ause"] > scores["ause_random"]


def test_mean_image_is_the_rounded_pixel_mean() -> None:
    samples = np.array([[[[0, 10, 255]]], [[[1, 11, 255]]]], np.uint8)
    assert mean_image(samples).tolist() == [[[0, 10, 255]]]  # numpy rounds halves to even
