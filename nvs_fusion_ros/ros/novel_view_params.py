"""``novel_view``'s parameters, and the snapshot of them that each request takes when it arrives.

Choices come from the registries (samplers: ``diffusion.SAMPLER_NAMES``, the torch-free names of
``samplers.SAMPLERS``; engines: ``engines.factory.ENGINES``), so a new sampler or engine is a valid parameter value without an
edit here. A job never reads a parameter while it runs: ``Request`` is filled in the callback
that received the request, so a parameter change applies to the next request, never half-way
through one, and every job kind follows the same rule. "-1 means a random seed" is resolved
once, by ``request_seed``, also at arrival, so the seed a job used can be logged and repeated.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..diffusion import ETA_SAMPLERS, NODE_SAMPLER, NODE_STEPS, SAMPLER_NAMES
from ..diffusion.sampling_spec import SamplingSpec, describe_options, options_problem
from ..engines.factory import ENGINES
from ..engines.options import device_problem
from ..reconstruction.distill import DistillConfig
from ..reconstruction.extract import DEFAULT_SURFACE_THRESHOLD
from .parameters import ParamSpec, finite_list

RANDOM_SEED = -1
#: ~/points and ~/mesh are in the normalised object frame, not the camera's: their frame_id says so (object_frame)
OBJECT_FRAME_SUFFIX = "_nvs_object"


def object_frame(views_frame_id: str, configured: str = "") -> str:
    """The frame_id of a reconstruction: ``configured`` when set, else the views' frame_id + ``OBJECT_FRAME_SUFFIX``.

    The frame: the object's centre at the origin, z up, scaled so its bounding sphere has radius 0.5 (no unit: pose-free
    views carry no scale), +x toward the newest key view's camera for a camera-relative model (the canonical front for
    a canonical one). No transform to the camera frame exists (the views have no pose), so it is never labelled as
    the camera's frame; metric geometry in the camera frame is rgbd_completion's.
    """
    return configured or f"{views_frame_id or 'camera'}{OBJECT_FRAME_SUFFIX}"


PARAMETERS = (
    ParamSpec("engine", "auto", "Inference engine; auto picks the fastest available here.", read_only=True,
              choices=tuple(ENGINES)),
    ParamSpec("device", "auto", "auto, cpu, cuda or cuda:N.", read_only=True, check=device_problem),
    ParamSpec("model_file_path", "", "Checkpoint (.pt); '' = the shipped default model.", read_only=True),
    ParamSpec("engine_file_path", "", "TensorRT plan path; '' = the engine cache.", read_only=True),
    ParamSpec("force_engine_update", False, "Rebuild the ONNX export / TensorRT plan even if cached.", read_only=True),
    ParamSpec("enable_fp16", True, "Build TensorRT plans with FP16 enabled.", read_only=True),
    ParamSpec("num_hypotheses", 4, "Samples K per target-angle request (occlusion hypotheses).", int_range=(1, 32)),
    ParamSpec("steps", NODE_STEPS, "Denoising steps (ddim, dpmpp2m); ddpm always runs the full schedule.",
              int_range=(1, 2000)),
    ParamSpec("sampler", NODE_SAMPLER, "Reverse-process sampler.", choices=tuple(SAMPLER_NAMES)),
    ParamSpec("eta", 0.0, f"DDIM's eta: 0 deterministic, 1 as stochastic as DDPM (only {', '.join(ETA_SAMPLERS)} takes "
              "it: eta != 0 with another sampler is refused, never dropped).", float_range=(0.0, 1.0)),
    ParamSpec("sampler_options", "", "The sampler's own options, comma-separated key=value ('' = its defaults; the "
              "first value is the default): " + describe_options() + ". An option the chosen sampler does "
              "not have is refused, never dropped.", check=options_problem),
    ParamSpec("seed", RANDOM_SEED, "Base seed (hypothesis k uses seed + k); -1 = random per request.",
              int_range=(RANDOM_SEED, 2**31 - 1)),
    ParamSpec("max_views", 6, "Most views composed per step; must equal view_buffer's max_views.", read_only=True,
              int_range=(1, 32)),
    ParamSpec("target_angles", [2 * math.pi * i / 8 for i in range(8)],
              "Azimuths (radians) of the orbit service and of periodic mode.", check=finite_list("target_angles")),
    ParamSpec("rate", 0.0, "Periodic mode: requests per second over target_angles; 0 = off.", read_only=True,
              float_range=(0.0, 100.0)),
    ParamSpec("output_qos_depth", 10, "History depth of the output topics.", read_only=True, int_range=(1, 1000)),
    ParamSpec("reconstruction_iterations", DistillConfig.iterations,
              "~/reconstruct: field iterations (the first third fits the orbit, the rest seeks modes).",
              int_range=(1, 100000)),
    ParamSpec("reconstruction_mode_seeking", DistillConfig.mode_seeking,
              "~/reconstruct: SparseFusion mode seeking after the first third; False fits the orbit only (faster)."),
    ParamSpec("reconstruction_grid", DistillConfig.grid_resolution, "~/reconstruct: voxel grid resolution per axis.",
              int_range=(8, 256)),
    ParamSpec("reconstruction_orbit_views", DistillConfig.orbit_views,
              "~/reconstruct: synthesized views evenly spaced in azimuth (``sampler``, ``steps`` each).", int_range=(2, 72)),
    ParamSpec("reconstruction_surface_threshold", DEFAULT_SURFACE_THRESHOLD,
              "~/reconstruct: the surface is where a voxel's opacity crosses this.", float_range=(0.001, 0.999)),
    ParamSpec("reconstruction_points", 20000, "~/reconstruct: points sampled on the surface for ~/points.",
              int_range=(1, 1000000)),
    ParamSpec("reconstruction_frame_id", "", "frame_id of ~/points and ~/mesh (the unit-less object frame); '' = "
              f"the views' frame_id + '{OBJECT_FRAME_SUFFIX}' (object_frame)."),
    ParamSpec("reconstruction_output_dir", "", "Also write PLY/OBJ files of each reconstruction here; '' = don't.",
              read_only=True),
)


def request_seed(seed: int) -> int:
    """The one seed rule: ``-1`` (``RANDOM_SEED``) draws a fresh seed for this request, else the seed itself."""
    return secrets.randbits(31) if seed == RANDOM_SEED else seed


@dataclass(frozen=True)
class Request:
    """The parameters a request runs with, read when it arrived (see the module docstring)."""

    sampling: SamplingSpec | None  # None with the reason in sampling_problem
    sampling_problem: str
    seed: int
    num_hypotheses: int
    target_angles: tuple[float, ...]
    distill: DistillConfig
    surface_threshold: float
    points: int
    frame_id: str  # of ~/points and ~/mesh; '' = object_frame of the views'
    output_dir: str

    @classmethod
    def snapshot(cls, value: Callable[[str], Any]) -> Request:
        """Read every job parameter now, through ``value(name)`` (the node's current parameter value)."""
        seed = request_seed(value("seed"))
        try:
            sampling, sampling_problem = SamplingSpec.build(value("sampler"), value("steps"), value("eta"), seed,
                                                            value("sampler_options")), ""
        except ValueError as exc:  # e.g. eta with a sampler that has none: refused when the job runs
            sampling, sampling_problem = None, str(exc)
        return cls(
            sampling=sampling, sampling_problem=sampling_problem, seed=seed, num_hypotheses=value("num_hypotheses"),
            target_angles=tuple(value("target_angles")),
            distill=DistillConfig(iterations=value("reconstruction_iterations"),
                                  mode_seeking=value("reconstruction_mode_seeking"),
                                  grid_resolution=value("reconstruction_grid"),
                                  orbit_views=value("reconstruction_orbit_views"), seed=seed,
                                  orbit_sampling=sampling.with_seed(None) if sampling else SamplingSpec(steps=value("steps"))),
            surface_threshold=value("reconstruction_surface_threshold"), points=value("reconstruction_points"),
            frame_id=value("reconstruction_frame_id"), output_dir=value("reconstruction_output_dir"),
        )

    def spec(self) -> SamplingSpec:
        """The request's ``SamplingSpec``; a ``ValueError`` with the reason when its parameters do not make one."""
        if self.sampling is None:
            raise ValueError(f"the sampling parameters do not fit together: {self.sampling_problem}")
        return self.sampling
