"""Geometry metrics of a predicted point set against a true surface: Chamfer distance and F-score.

Both compare point sets sampled on the surfaces (nearest neighbours with a k-d tree), in whatever
unit the points are in: the reconstruction benchmarks use the normalised object frame (bounding
radius ``cameras.OBJECT_RADIUS``, :func:`surface_scores`); the RGB-D completion uses metres in and
millimetres out (:func:`cloud_scores`, and the error of completed points by confidence decile).
This is the project's one implementation: a point counts at threshold t when its distance is
strictly below t (Tatarchenko et al. 2019, "What do single-view 3D reconstruction networks
learn?", define precision and recall with ``<``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class SurfaceScores:
    """chamfer: mean of both directions' mean nearest-neighbour distances; fscore/precision/recall at threshold."""

    chamfer: float
    fscore: float
    precision: float
    recall: float
    threshold: float


def nearest_distances(predicted: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each predicted point's distance to the nearest reference point, and each reference point's to the nearest predicted."""
    if len(predicted) == 0 or len(reference) == 0:
        raise ValueError("both point sets must be non-empty")
    return cKDTree(reference).query(predicted)[0], cKDTree(predicted).query(reference)[0]


def precision_recall_f(to_reference: np.ndarray, to_predicted: np.ndarray, threshold: float) -> tuple[float, float, float]:
    """Precision, recall and F-score at ``threshold`` from :func:`nearest_distances` (a distance counts when below it)."""
    precision, recall = float((to_reference < threshold).mean()), float((to_predicted < threshold).mean())
    return precision, recall, 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def surface_scores(predicted: np.ndarray, reference: np.ndarray, threshold: float = 0.05) -> SurfaceScores:
    """Chamfer distance (L1-style: mean distances, not squared) and F-score of points (N, 3) against (M, 3)."""
    to_reference, to_predicted = nearest_distances(predicted, reference)
    precision, recall, fscore = precision_recall_f(to_reference, to_predicted, threshold)
    chamfer = 0.5 * (float(to_reference.mean()) + float(to_predicted.mean()))
    return SurfaceScores(chamfer=chamfer, fscore=fscore, precision=precision, recall=recall, threshold=threshold)


def cloud_scores(predicted: np.ndarray, truth: np.ndarray, thresholds_m: tuple[float, ...] = (0.005, 0.01)) -> dict[str, float]:
    """Chamfer (mean of both directions' mean distance, mm) and precision / recall / F at each threshold."""
    if len(truth) == 0:
        raise ValueError("the true surface has no points")
    if len(predicted) == 0:
        scores = {"chamfer_mm": float("inf"), "points": 0}
        for t in thresholds_m:
            mm = round(t * 1000)
            scores |= {f"precision_{mm}mm": 0.0, f"recall_{mm}mm": 0.0, f"f_{mm}mm": 0.0}
        return scores
    to_truth, to_pred = nearest_distances(predicted, truth)
    scores: dict[str, float] = {"chamfer_mm": float(500.0 * (to_truth.mean() + to_pred.mean())), "points": len(predicted)}
    for t in thresholds_m:
        precision, recall, f = precision_recall_f(to_truth, to_pred, t)
        mm = round(t * 1000)
        scores |= {f"precision_{mm}mm": precision, f"recall_{mm}mm": recall, f"f_{mm}mm": f}
    return scores


def point_errors_mm(points: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Each point's distance to the nearest true surface point, in millimetres."""
    return cKDTree(truth).query(points)[0] * 1000.0 if len(points) else np.zeros(0)


def errors_by_confidence(error_mm: np.ndarray, confidence: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Mean of ``error_mm`` in each of ``bins`` equal-width confidence bins over [0, 1] (lowest first; empty ones left out).

    Bins by value, not by rank: with K hypotheses the confidence takes only the values k/K, and
    rank deciles would split a tie by whatever order the points came in.
    """
    index = np.minimum((np.asarray(confidence) * bins).astype(int), bins - 1)
    return [{"confidence_min": b / bins, "confidence_max": (b + 1) / bins, "mean_error_mm": float(error_mm[index == b].mean()),
             "points": int((index == b).sum())} for b in range(bins) if (index == b).any()]
