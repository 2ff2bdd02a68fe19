"""RGB-D in, metric completion out: segmentation -> placement -> the model's hypotheses -> carving.

The model is asked for K hypotheses at each of A orbit azimuths in one batched reverse process
(``ViewModel.synthesize_steps`` with all A angles and ``num_hypotheses = K``), conditioned on the anchor
view cropped as :mod:`placement` frames it:

* a **camera-relative** model (``UNetConfig.relative``) takes the azimuths
  relative to the anchor (the newest view), so the anchor's model azimuth is 0; its views are
  taken at the anchor's real elevation (it learned to keep the anchor's elevation);
* a **canonical** model (the paper's, and the shipped blob model) wants azimuths in the object's
  canonical frame, which a robot does not know: the orbit is sampled at A canonical azimuths, the
  anchor's azimuth is estimated by matching it against the mean of each angle's hypotheses
  (``reconstruction.distill.estimate_azimuths``), and the views are at the dataset's 30° elevation.

The anchor is the RGB-D frame, cropped as :mod:`placement` frames it: the newest view, the one
with depth, so the one that places the completion. ``key_views`` (the key-view buffer's other
views; no depth, no pose) condition the model too, one ViewFusion stream each, before the anchor;
the visible cloud is the anchor's object depth points.

``mode`` chooses what completes the hidden side (``MODES``): ``hybrid`` (the default) takes the
model's K hypotheses and the geometric shapes (:mod:`geometric`: ``WITNESSES``, the mirror and the surface of
revolution) as two kinds of witness, each sure of its own points and confirming the other's, a model point only near
a shape (:mod:`completion`), which beat each
alone and every single shape on the tabletop benchmark's scenes (docs/rgbd_completion.md);
``model`` carves the model's hypotheses alone; ``geometric`` needs no model and lets the shapes
agree among themselves.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .. import cameras
from ..diffusion import NODE_SAMPLER, NODE_STEPS
from ..diffusion.sampling_spec import SamplingSpec
from ..diffusion.stepwise import Progress, Stepwise
from .completion import Completion, CompletionConfig, Hypotheses, complete
from .depth import MAX_GRAZING_DEG, Intrinsics, remove_flying_pixels
from .geometric import GeometricConfig, geometric_shapes
from .placement import Placement, fit_placement, model_view
from .segmentation import Segmentation, SegmentationConfig, segment_object

if TYPE_CHECKING:
    from ..synthesis.view_model import ViewModel

#: completed points kept by default: every witness of the point's own kind agrees on it (all K of the model's hypotheses
#: for a model voxel near a shape's surface, both geometric shapes for a shape's point); chosen on the validation
#: scenes over 0.875, which also keeps the points one kind is sure of and the other mostly confirms
#: (docs/rgbd_completion.md)
MIN_CONFIDENCE = 1.0
MODES = ("model", "geometric", "hybrid")  # what completes the hidden side (module docstring)


@dataclass(frozen=True)
class CompletionOptions:
    """How many hypotheses (``num_hypotheses``) at how many azimuths, and how they are sampled (``sampling``: the
    sampler, its steps and the base seed; hypothesis k at the i-th azimuth asked for uses seed + 1000 i + k).

    The defaults are the node's and the tabletop benchmark's. K = 6 at A = 6 azimuths and DPM-Solver++(2M) at 8 steps
    score as K = 8 at 8 azimuths and DDIM at 25 on the tabletop test scenes in about a tenth of the network work
    (docs/benchmarks.md, "Completion speed"); ``MIN_CONFIDENCE`` is a share of agreeing hypotheses."""

    num_hypotheses: int = 6
    azimuths: int = 6
    sampling: SamplingSpec = field(default_factory=lambda: SamplingSpec(NODE_SAMPLER, NODE_STEPS, seed=0))
    max_grazing_deg: float = MAX_GRAZING_DEG  # flying-pixel filter (depth.remove_flying_pixels); 90 keeps every reading
    mode: str = "hybrid"  # the best F@10mm of the three on the validation scenes (docs/rgbd_completion.md)
    completion: CompletionConfig = field(default_factory=CompletionConfig)
    segmentation: SegmentationConfig = field(default_factory=SegmentationConfig)
    geometric: GeometricConfig = field(default_factory=GeometricConfig)

    @property
    def needs_model(self) -> bool:
        return self.mode != "geometric"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        for name in ("num_hypotheses", "azimuths"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.sampling.seed is None:
            raise ValueError("a completion is reproducible: its sampling needs a seed")
        if not 0.0 < self.max_grazing_deg <= 90.0:
            raise ValueError(f"max_grazing_deg must be in (0, 90] degrees, got {self.max_grazing_deg!r}")
        if self.azimuths < 2:
            raise ValueError("need at least 2 orbit azimuths (the anchor's own is not enough to complete)")


@dataclass(frozen=True)
class SegmentedFrame:
    """A frame's depth with its flying pixels removed and the object segmented in it: what every consumer of one
    frame (its mask, the check before a completion, the completion) shares, so the frame is segmented once."""

    depth: np.ndarray  # metres, flying pixels NaN
    segmentation: Segmentation


def segment_frame(colour: np.ndarray, depth: np.ndarray, intrinsics: Intrinsics, options: CompletionOptions,
                  roi: tuple[int, int, int, int] | None = None) -> SegmentedFrame:
    """Drop flying pixels (``options.max_grazing_deg``), then segment (within ``roi`` when given); raises
    NothingAbovePlaneError / DepthError."""
    depth = remove_flying_pixels(depth, intrinsics, options.max_grazing_deg)
    return SegmentedFrame(depth, segment_object(colour, depth, intrinsics, options.segmentation, roi))


@dataclass
class SceneCompletion:
    """Everything one completion produced; ``cloud()`` is what the planner gets."""

    segmentation: Segmentation
    placement: Placement
    view: np.ndarray | None  # the anchor as the model saw it (S, S, 3); None in the geometric mode
    hypotheses: Hypotheses | None  # the model's; None in the geometric mode
    completion: Completion
    angle_reference: str | None  # the model's angle convention; None in the geometric mode
    timings: dict[str, float]

    def cloud(self, min_confidence: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Visible depth points (confidence 1) then the completed ones at least ``min_confidence`` sure (1: only
        where all K hypotheses agree): points (N, 3) m, colours (N, 3) uint8, confidence (N,)."""
        seen, done = self.segmentation, self.completion
        keep = done.confidence >= min_confidence
        return (np.concatenate([seen.points, done.points[keep]]).astype(np.float32),
                np.concatenate([seen.colors, done.colors[keep]]).astype(np.uint8),
                np.concatenate([np.ones(len(seen.points), np.float32), done.confidence[keep]]).astype(np.float32))


def sample_hypotheses(synthesizer: ViewModel, views: list[np.ndarray], angles: list[float],
                      options: CompletionOptions) -> Stepwise[Progress, np.ndarray]:
    """(K, A, S, S, 3) images: K samples at each of the ``angles`` (the synthesizer's own angle convention),
    conditioned on ``views`` (the anchor last), all A x K in one reverse process (``max_batch`` streams per engine
    call), one ``Progress`` ("sample") per denoising step. Each sample is the one a call for its angle alone draws.
    """
    run = synthesizer.synthesize_steps(views, angles, options.num_hypotheses, options.sampling)
    return Stepwise(_stacked(run))


def _stacked(run: Stepwise) -> Generator[Progress, None, np.ndarray]:
    for state in run:
        yield Progress(state.done, state.total, "sample")
    return np.stack([result.images for result in run.result], axis=1)


def complete_scene(colour: np.ndarray, depth: np.ndarray, intrinsics: Intrinsics, synthesizer: ViewModel | None,
                   options: CompletionOptions | None = None, roi: tuple[int, int, int, int] | None = None,
                   key_views: Sequence[np.ndarray] = (), images: np.ndarray | None = None,
                   prepared: SegmentedFrame | None = None) -> SceneCompletion:
    """:func:`complete_scene_steps` run to the end."""
    return complete_scene_steps(colour, depth, intrinsics, synthesizer, options, roi, key_views, images, prepared).result


def complete_scene_steps(colour: np.ndarray, depth: np.ndarray, intrinsics: Intrinsics, synthesizer: ViewModel | None,
                         options: CompletionOptions | None = None, roi: tuple[int, int, int, int] | None = None,
                         key_views: Sequence[np.ndarray] = (),
                         images: np.ndarray | None = None,
                         prepared: SegmentedFrame | None = None) -> Stepwise[Progress, SceneCompletion]:
    """Drop flying pixels, segment (within ``roi`` when given), place, sample hypotheses conditioned on ``key_views``
    and the anchor (unless ``options.mode`` is geometric), fit the geometric shapes (unless it is model), and carve;
    one ``Progress`` ("sample") per denoising step of the hypotheses. Raises NothingAbovePlaneError / CompletionError.
    ``images`` (K, A, S, S, 3) are hypotheses sampled before for the same frame and options: a benchmark that sweeps
    the carving's settings passes them instead of sampling again. ``prepared``: this frame's ``segment_frame`` with
    these options and ``roi``, done before (the node's mask did it), used instead of segmenting again."""
    options = options or CompletionOptions()
    if options.needs_model and synthesizer is None:
        raise ValueError(f"the {options.mode!r} completion needs a model")
    return Stepwise(_complete(colour, depth, intrinsics, synthesizer, options, roi, key_views, images, prepared))


def _complete(colour: np.ndarray, depth: np.ndarray, intrinsics: Intrinsics, synthesizer: ViewModel | None,
              options: CompletionOptions, roi: tuple[int, int, int, int] | None, key_views: Sequence[np.ndarray],
              images: np.ndarray | None, prepared: SegmentedFrame | None) -> Generator[Progress, None, SceneCompletion]:
    started = time.perf_counter()
    prepared = prepared or segment_frame(colour, depth, intrinsics, options, roi)
    depth, segmentation = prepared.depth, prepared.segmentation
    placement = fit_placement(segmentation)
    segmented = time.perf_counter()
    view, hypotheses, reference = None, None, None
    if options.needs_model:
        assert synthesizer is not None
        view, hypotheses, placement, reference = yield from _model_hypotheses(
            colour, segmentation, placement, intrinsics, synthesizer, options, key_views, images)
    sampled = time.perf_counter()
    shapes = [] if options.mode == "model" else geometric_shapes(segmentation, fit_placement(segmentation), depth,
                                                                 intrinsics, options.geometric)
    shaped = time.perf_counter()
    completion = complete(hypotheses, placement, segmentation.plane, depth, intrinsics, options.completion, shapes)
    done = time.perf_counter()
    return SceneCompletion(segmentation, placement, view, hypotheses, completion, reference, {
        "segment_s": segmented - started, "sample_s": sampled - segmented, "geometric_s": shaped - sampled,
        "carve_s": done - shaped, "total_s": done - started})


def _model_hypotheses(colour: np.ndarray, segmentation: Segmentation, placement: Placement, intrinsics: Intrinsics,
                      synthesizer: ViewModel, options: CompletionOptions, key_views: Sequence[np.ndarray],
                      images: np.ndarray | None) -> Generator[Progress, None, tuple[np.ndarray, Hypotheses, Placement,
                                                                                    str]]:
    """The anchor view, the model's hypotheses (sampled, or ``images`` given), the placement (a canonical model's
    anchor azimuth estimated) and the model's angle convention."""
    from ..reconstruction.distill import estimate_azimuths  # torch-heavy: imported on use

    size = synthesizer.image_size
    view = model_view(colour, segmentation.mask, placement.view_box(intrinsics), size)
    views = [*key_views, view]
    reference, is_relative = synthesizer.angle_reference, synthesizer.runner.relative
    step = 2.0 * math.pi / options.azimuths
    first = 1 if is_relative else 0  # a relative model is not asked for the anchor's own view
    angles = [step * j for j in range(first, options.azimuths)]
    if images is None:
        images = yield from sample_hypotheses(synthesizer, views, angles, options)
    if is_relative:
        relative, elevation = angles, placement.anchor_elevation
    else:
        mean_views = images.astype(np.float32).mean(axis=0).round().astype(np.uint8)
        anchor = estimate_azimuths(view[None], mean_views, angles)[0].azimuth
        placement = fit_placement(segmentation, anchor_azimuth=anchor)
        relative, elevation = [a - anchor for a in angles], math.radians(cameras.DEFAULT_ELEVATION_DEG)
    return view, Hypotheses(images=images, relative_azimuths=relative, elevation=elevation), placement, reference
