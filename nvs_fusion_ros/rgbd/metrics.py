"""How close a predicted cloud is to the true surface: Chamfer distance, precision/recall/F at a
threshold (``reconstruction.metrics``, the one implementation: a distance counts when below the
threshold), and the error of completed points by confidence decile. Lengths in metres in, millimetres out.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ..reconstruction.metrics import nearest_distances, precision_recall_f


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
