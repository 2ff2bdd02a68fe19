"""Scores of a set of K samples (the occlusion hypotheses) against the one true view.

A sampler that draws from the right distribution is not the best single guess: a sample and the
truth are two independent draws of the same posterior, so one sample's squared error is about twice
the posterior mean's (10·log10 2 ≈ 3 dB of PSNR). Judging samples by one sample's PSNR punishes a
sharp, calibrated sampler. These scores judge the set as a set:

* **fair CRPS** (Ferro 2008; Gneiting & Raftery 2007), per pixel and channel in [0, 1]:
  mean_k |X_k − y| − 1/(2K(K−1)) Σ_{k≠l} |X_k − X_l|. A proper score, unbiased for the CRPS of the
  distribution the K samples come from; for K = 1 (or K identical samples) it is the mean absolute
  error, so a deterministic prediction (a baseline, the posterior mean) is scored by its MAE on the
  same scale.
* **spread vs skill**: the samples' mean per-pixel variance against the squared error of their
  mean. For a calibrated sampler E‖mean − y‖² = (1 + 1/K) E[variance] (variance with K − 1 in the
  denominator), so ``calibration`` = √((K+1)/K · variance / mse_of_mean) is 1; below 1 the samples
  agree more than they should (over-confident), above 1 they scatter more.
* **does the uncertainty image rank error?** Spearman's correlation between the published
  uncertainty (per-pixel std over the samples) and the per-pixel error of the samples' mean, and
  the area under the sparsification error curve (AUSE): remove pixels most-uncertain first and
  follow the remaining mean error, against removing them largest-error first (the oracle); 0 is a
  perfect ranking and ``ause_random`` is what a random ranking scores.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from ..synthesis.synthesizer import uncertainty_map
from .image_metrics import to_unit_float

SPARSIFICATION_FRACTIONS = np.linspace(0.0, 0.95, 20)  # fractions of pixels removed
ENSEMBLE_METRICS = ("crps", "variance", "mse_of_mean", "spearman", "ause", "ause_random")


def fair_crps(samples: np.ndarray, truth: np.ndarray) -> float:
    """Fair CRPS of K samples (K, H, W, 3) against the truth (H, W, 3), averaged over pixels and channels."""
    x = to_unit_float(samples)
    y = to_unit_float(truth)
    k = x.shape[0]
    skill = np.abs(x - y[None]).mean(axis=0)
    if k == 1:
        return float(skill.mean())
    spread = sum(np.abs(x[i] - x[j]) for i in range(k) for j in range(i + 1, k))  # each unordered pair once
    return float((skill - spread / (k * (k - 1))).mean())  # Σ_{k≠l} counts each pair twice: 2/(2K(K-1))


def sparsification_curve(error: np.ndarray, ranking: np.ndarray) -> np.ndarray:
    """Mean error of the pixels left after removing the top fraction by ``ranking`` (largest first),
    at each of ``SPARSIFICATION_FRACTIONS``, divided by the mean error of all pixels."""
    order = np.argsort(-ranking, kind="stable")
    sorted_error = error[order]
    n = sorted_error.size
    tails = np.cumsum(sorted_error[::-1])[::-1]  # tails[i] = sum of the errors from position i on
    starts = np.minimum((SPARSIFICATION_FRACTIONS * n).astype(int), n - 1)
    left = tails[starts] / (n - starts)
    total = error.mean()
    return left / total if total > 0 else np.zeros_like(left)


def ensemble_scores(samples: np.ndarray, truth: np.ndarray) -> dict[str, float | None]:
    """Every score of one set of K samples; the ranking scores are None when K = 1 (no uncertainty)."""
    x = to_unit_float(samples)
    y = to_unit_float(truth)
    mean = x.mean(axis=0)
    k = x.shape[0]
    scores: dict[str, float | None] = {
        "crps": fair_crps(samples, truth),
        "variance": float(x.var(axis=0, ddof=1).mean()) if k > 1 else None,
        "mse_of_mean": float(((mean - y) ** 2).mean()),
        "spearman": None, "ause": None, "ause_random": None,
    }
    if k == 1:
        return scores
    uncertainty = uncertainty_map(samples).ravel().astype(np.float64)
    error = np.abs(mean - y).mean(axis=-1).ravel()
    if np.ptp(uncertainty) > 0 and np.ptp(error) > 0:
        scores["spearman"] = float(spearmanr(uncertainty, error).statistic)
    oracle = sparsification_curve(error, error)
    scores["ause"] = float(np.mean(sparsification_curve(error, uncertainty) - oracle))
    scores["ause_random"] = float(np.mean(1.0 - oracle))  # a random ranking keeps the mean error: a flat curve at 1
    return scores


def calibration(variance: float | None, mse_of_mean: float | None, k: int) -> dict[str, float | None]:
    """Spread (RMS sample std), skill (RMS error of the mean) and their calibration ratio for K samples."""
    if variance is None or mse_of_mean is None or k < 2:
        return {"spread": None, "skill": None if mse_of_mean is None else float(np.sqrt(mse_of_mean)), "calibration": None}
    spread, skill = float(np.sqrt(variance)), float(np.sqrt(mse_of_mean))
    return {"spread": spread, "skill": skill,
            "calibration": float(np.sqrt((k + 1) / k) * spread / skill) if skill > 0 else None}
