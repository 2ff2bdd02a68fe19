"""Geometry metrics of a reconstruction against a true surface: Chamfer distance and F-score.

Both compare point sets sampled on the surfaces (nearest neighbours with a k-d
tree), in the normalised object frame where the object's bounding sphere has
radius ``cameras.OBJECT_RADIUS``.
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


def surface_scores(predicted: np.ndarray, reference: np.ndarray, threshold: float = 0.05) -> SurfaceScores:
    """Chamfer distance (L1-style: mean distances, not squared) and F-score of points (N, 3) against (M, 3)."""
    if len(predicted) == 0 or len(reference) == 0:
        raise ValueError("both point sets must be non-empty")
    to_reference = cKDTree(reference).query(predicted)[0]
    to_predicted = cKDTree(predicted).query(reference)[0]
    precision = float((to_reference < threshold).mean())
    recall = float((to_predicted < threshold).mean())
    fscore = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    chamfer = 0.5 * (float(to_reference.mean()) + float(to_predicted.mean()))
    return SurfaceScores(chamfer=chamfer, fscore=fscore, precision=precision, recall=recall, threshold=threshold)
