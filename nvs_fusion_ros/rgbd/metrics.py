"""How close a predicted cloud is to the true surface: Chamfer distance, precision/recall/F at a
threshold (Tatarchenko et al. 2019, "What do single-view 3D reconstruction networks learn?"), and
the error of completed points by confidence decile. Lengths in metres in, millimetres out.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


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
    to_truth = cKDTree(truth).query(predicted)[0]
    to_pred = cKDTree(predicted).query(truth)[0]
    scores: dict[str, float] = {"chamfer_mm": float(500.0 * (to_truth.mean() + to_pred.mean())), "points": len(predicted)}
    for t in thresholds_m:
        precision, recall = float((to_truth <= t).mean()), float((to_pred <= t).mean())
        f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        mm = round(t * 1000)
        scores |= {f"precision_{mm}mm": precision, f"recall_{mm}mm": recall, f"f_{mm}mm": f}
    return scores


def error_by_confidence(points: np.ndarray, confidence: np.ndarray, truth: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Mean distance to the true surface (mm) of the points in each confidence decile (lowest first).

    Deciles are by rank, so ties at a few discrete confidence values (k/K) spread over bins;
    each row gives the confidence range it holds.
    """
    if len(points) == 0:
        return []
    error = cKDTree(truth).query(points)[0] * 1000.0
    order = np.argsort(confidence, kind="stable")
    rows = []
    for chunk in np.array_split(order, bins):
        if len(chunk):
            rows.append({"confidence_min": float(confidence[chunk].min()), "confidence_max": float(confidence[chunk].max()),
                         "mean_error_mm": float(error[chunk].mean()), "points": len(chunk)})
    return rows
