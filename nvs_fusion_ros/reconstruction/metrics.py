"""Geometry metrics of a reconstruction against a true surface: Chamfer distance and F-score.

Both compare point sets sampled on the surfaces (nearest neighbours with a k-d
tree), in whatever unit the points are in (the reconstruction benchmarks: the
normalised object frame, bounding radius ``cameras.OBJECT_RADIUS``; the RGB-D
completion, ``rgbd.metrics``: metres). This is the project's one implementation:
a point counts at threshold t when its distance is strictly below t
(Tatarchenko et al. 2019, "What do single-view 3D reconstruction networks learn?").
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
