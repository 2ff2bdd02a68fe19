"""Distilling synthesized views into one 3D-consistent field (SparseFusion, Zhou 2023, §4.4 and supp. §2.3).

Two stages, as in the paper (the first third of the iterations is stage 1):

1. **Plain predictions.** The synthesizer generates an autoregressive orbit of views
   at known canonical azimuths; the field is fitted to them. The user's input views
   are pose-free, so each one's azimuth is estimated by matching it against the
   orbit images; they are then fitted at those azimuths for the whole run.
2. **Mode seeking.** Each step renders the field from a camera sampled on the orbit
   circle (elevation jittered), noises the render to a random level t, denoises it
   a few DDIM steps with the model conditioned on the input views and that camera's
   azimuth (no gradient through the model), and pulls the render toward the result
   with weight 1 - γ_t (the paper's 1 - ᾱ_t). Because the target starts from the
   render itself, the field is drawn toward the nearest mode of the model's view
   distribution rather than toward the mean of independent samples (stage 1 alone).

The loss on a mode-seeking target is MSE plus ``ssim_weight`` x (1 - SSIM) (kornia's
differentiable SSIM, 7x7 window): the paper's perceptual term is LPIPS, whose
pretrained weights cannot exist here (docs/DESIGN.md §3), and SSIM is the structural
term that rewards the denoiser's sharp edges over a blurred mean.

Everything runs through the synthesizer's :class:`~nvs_fusion_ros.synthesis.runner.ModelRunner`:
no second model copy is loaded. With a relative-mode model the field's frame is the anchor
view's: the anchor sits at azimuth 0 exactly (only the other inputs' azimuths are estimated)
and every orbit azimuth is measured from it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, dataclass, field

import kornia
import numpy as np
import torch
import torch.nn.functional as F

from .. import cameras
from ..diffusion.samplers import DDIMSampler
from ..diffusion.stepwise import Progress, Stepwise
from ..synthesis.preprocess import prepare_views
from ..synthesis.runner import Conditioning
from ..synthesis.synthesizer import OrbitResult
from ..synthesis.tensors import to_tensor
from ..synthesis.view_model import ViewModel
from .config import DistillConfig
from .field import VoxelField
from .renderer import camera_rays, render_rays, render_view

log = logging.getLogger(__name__)

DATASET_ELEVATION = math.radians(cameras.DEFAULT_ELEVATION_DEG)  # the only elevation the model has seen


@dataclass(frozen=True)
class AzimuthEstimate:
    """Where an input view best matches the orbit: azimuth (radians, [0, 2π)) and the matching RMSE (0..1)."""

    azimuth: float
    rmse: float


@dataclass
class DistillResult:
    """The fitted field and what it was fitted to (all images uint8 at the model's size)."""

    field: VoxelField
    inputs: np.ndarray
    orbit_images: np.ndarray
    orbit_angles: list[float]
    input_azimuths: list[AzimuthEstimate]
    config: DistillConfig
    timings: dict[str, float] = field(default_factory=dict)
    losses: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-ready facts about the run."""
        return {
            "input_azimuths_deg": [round(math.degrees(e.azimuth), 2) for e in self.input_azimuths],
            "input_match_rmse": [round(e.rmse, 4) for e in self.input_azimuths],
            "orbit_angles_deg": [round(math.degrees(a), 2) for a in self.orbit_angles],
            "timings": self.timings,
            "final_losses": self.losses,
            "config": asdict(self.config),
        }


def orbit_camera(azimuth: float, size: int, elevation: float = DATASET_ELEVATION) -> cameras.OrbitCamera:
    """A dataset-like camera (default distance and field of view) at the model's image size."""
    return cameras.OrbitCamera(azimuth, elevation, width=size, height=size)


def orbit_angles(count: int) -> list[float]:
    """``count`` azimuths evenly spaced from 0 (the canonical front)."""
    return [cameras.view_azimuth(i, count) for i in range(count)]


def estimate_azimuths(inputs: np.ndarray, orbit_images: np.ndarray, angles: Sequence[float]) -> list[AzimuthEstimate]:
    """Azimuth of each input view (N, H, W, 3) from its best-matching orbit image (A, H, W, 3).

    The orbit's angles must be evenly spaced (as :func:`orbit_angles` makes them): the
    estimate is refined between neighbours by the vertex of a parabola through the
    errors at the best angle and its two neighbours.
    """
    if len(orbit_images) != len(angles) or len(angles) < 1:
        raise ValueError("need one angle per orbit image and at least one")
    a = inputs.astype(np.float32)[:, None] / 255.0
    b = orbit_images.astype(np.float32)[None] / 255.0
    errors = ((a - b) ** 2).mean(axis=(2, 3, 4))  # (N, A)
    count = len(angles)
    estimates = []
    for row in errors:
        best = int(row.argmin())
        shift = 0.0
        if count >= 3:
            left, centre, right = row[(best - 1) % count], row[best], row[(best + 1) % count]
            curvature = left - 2 * centre + right
            shift = float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5)) if curvature > 1e-12 else 0.0
        azimuth = (angles[best] + shift * 2.0 * math.pi / count) % (2.0 * math.pi)
        estimates.append(AzimuthEstimate(azimuth=azimuth, rmse=float(math.sqrt(row[best]))))
    return estimates


class RayPool:
    """Every pixel of a set of views as a ray with its colour, to draw random training batches from."""

    def __init__(self, images: np.ndarray, views: Sequence[cameras.OrbitCamera]):
        if len(images) != len(views) or len(images) == 0:
            raise ValueError("need one camera per image and at least one image")
        rays = [camera_rays(view) for view in views]
        self.origins = torch.cat([o.reshape(-1, 3) for o, _ in rays])
        self.directions = torch.cat([d.reshape(-1, 3) for _, d in rays])
        self.colors = torch.from_numpy(np.ascontiguousarray(images).reshape(-1, 3)).float() / 255.0

    def loss(self, field: VoxelField, count: int, samples: int, generator: torch.Generator) -> torch.Tensor:
        """MSE between the field's colours and the views' on ``count`` random rays."""
        index = torch.randint(len(self.colors), (count,), generator=generator)
        rendered = render_rays(field, self.origins[index], self.directions[index], samples, generator)
        return F.mse_loss(rendered.rgb, self.colors[index])


class ModeSeeker:
    """SparseFusion's multi-step diffusion guidance: a denoised target for a render, and the loss toward it."""

    def __init__(self, synth: ViewModel, inputs: np.ndarray, config: DistillConfig, generator: torch.Generator,
                 anchor: int = -1):
        self.runner = synth.runner
        self.conditioning = Conditioning.of([to_tensor(inputs)], [anchor])
        self.config = config
        self.generator = generator
        self.size = inputs.shape[1]

    def denoising_steps(self, level: int) -> int:
        """The paper's step scheduler scaled to ``guidance_steps``: linear in t up to T/2, the most beyond."""
        fraction = min(1.0, 2.0 * (level + 1) / self.runner.schedule.num_steps)
        return max(1, round(self.config.guidance_steps * fraction))

    def sample_camera(self) -> cameras.OrbitCamera:
        """A camera on the orbit circle at a uniform azimuth, its elevation jittered around the dataset's."""
        azimuth = float(torch.rand((), generator=self.generator)) * 2.0 * math.pi
        jitter = float(torch.randn((), generator=self.generator)) * self.config.elevation_jitter
        return orbit_camera(azimuth, self.size, DATASET_ELEVATION + jitter)

    def target(self, render: torch.Tensor, azimuth: float, level: int) -> torch.Tensor:
        """Noise ``render`` (1, 3, H, W) in [-1, 1] to ``level`` and denoise it back with the model: a detached target."""
        schedule = self.runner.schedule
        noise = torch.randn(render.shape, generator=self.generator)
        noisy = schedule.add_noise(render.detach(), torch.tensor([level]), noise)
        seed = int(torch.randint(2**31 - 1, (), generator=self.generator))
        with torch.no_grad():
            out = self.runner.refine(self.conditioning, [azimuth], noisy, level, [torch.Generator().manual_seed(seed)],
                                     DDIMSampler(schedule, steps=self.denoising_steps(level)))
        return out.images.detach().float().cpu().clone()  # clone: engine outputs may be inference-mode tensors

    def loss(self, field: VoxelField) -> torch.Tensor:
        """(1 - γ_t) x (MSE + ssim_weight x (1 - SSIM)) between a random render and its denoised target."""
        camera = self.sample_camera()
        render = render_view(field, camera, self.config.samples_per_ray, self.generator).rgb.permute(2, 0, 1)[None]
        top = self.runner.schedule.num_steps - 1
        low, high = round(self.config.min_noise * top), round(self.config.max_noise * top)
        level = int(torch.randint(low, high + 1, (), generator=self.generator))
        target = (self.target(render * 2.0 - 1.0, camera.azimuth, level) + 1.0) / 2.0
        weight = 1.0 - float(self.runner.schedule.gamma(level))
        ssim_term = kornia.losses.ssim_loss(render, target, window_size=7) * 2.0  # kornia returns (1 - SSIM) / 2
        return weight * (F.mse_loss(render, target) + self.config.ssim_weight * ssim_term)


LossTerms = Callable[[VoxelField, int], dict[str, torch.Tensor]]


def optimise(field: VoxelField, loss_terms: LossTerms, iterations: int,
             config: DistillConfig) -> Generator[Progress, None, dict[str, float]]:
    """Adam on the field for ``iterations`` steps of ``loss_terms(field, i)`` plus total variation, one
    ``Progress`` ("field") per iteration; returns the last terms."""
    optimizer = torch.optim.Adam(field.parameters(), lr=config.learning_rate)
    decay = config.final_lr_fraction ** (1.0 / max(iterations - 1, 1))
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=decay)
    losses: dict[str, float] = {}
    for i in range(iterations):
        optimizer.zero_grad(set_to_none=True)
        terms = loss_terms(field, i)
        terms["total_variation"] = config.tv_weight * field.total_variation()
        loss = torch.stack(list(terms.values())).sum()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses = {name: float(value.detach()) for name, value in terms.items()}
        yield Progress(i + 1, iterations, "field")
    return losses


def fit_views(images: np.ndarray, azimuths: Sequence[float], config: DistillConfig | None = None) -> VoxelField:
    """A field fitted to known views (N, H, W, 3) uint8 at known azimuths (dataset cameras): no model involved."""
    config = config or DistillConfig()
    pool = RayPool(images, [orbit_camera(a, images.shape[1]) for a in azimuths])
    generator = torch.Generator().manual_seed(config.seed)
    field = VoxelField(config.grid_resolution)
    def loss_terms(f: VoxelField, _: int) -> dict[str, torch.Tensor]:
        return {"views": pool.loss(f, config.rays_per_step, config.samples_per_ray, generator)}

    for _ in optimise(field, loss_terms, config.iterations, config):
        pass
    return field


def distill(synth: ViewModel, views: Sequence[np.ndarray], config: DistillConfig | None = None,
            orbit: OrbitResult | None = None, anchor: int = -1) -> DistillResult:
    """:func:`distill_steps` run to the end."""
    return distill_steps(synth, views, config, orbit, anchor).result


def distill_steps(
    synth: ViewModel,
    views: Sequence[np.ndarray],
    config: DistillConfig | None = None,
    orbit: OrbitResult | None = None,
    anchor: int = -1,
) -> Stepwise[Progress, DistillResult]:
    """Reconstruct the object shown in pose-free ``views`` as a field in the model's frame
    (canonical, or the anchor view's ``views[anchor]`` for a relative-mode model), one ``Progress``
    per orbit denoising step ("orbit") and per field iteration ("field").

    ``orbit`` reuses an orbit already synthesized from these views (its angles must be
    evenly spaced from 0).
    """
    return Stepwise(_distill(synth, views, config or DistillConfig(), orbit, anchor))


def _distill(synth: ViewModel, views: Sequence[np.ndarray], config: DistillConfig, orbit: OrbitResult | None,
             anchor: int) -> Generator[Progress, None, DistillResult]:
    started = time.perf_counter()
    size = synth.image_size
    inputs = prepare_views(views, size, synth.max_views)
    if orbit is None:
        # A full set leaves no room for generated views: the orbit then conditions on the inputs only.
        orbit = yield from synth.orbit_steps(inputs, orbit_angles(config.orbit_views),
                                             autoregressive=len(inputs) < synth.max_views,
                                             sampling=config.orbit_sampling.with_seed(config.seed), anchor=anchor)
    orbit_done = time.perf_counter()
    estimates = estimate_azimuths(inputs, orbit.images, orbit.angles)
    if synth.runner.relative:  # the anchor defines azimuth 0 of the relative frame: known, not estimated
        estimates[anchor] = AzimuthEstimate(azimuth=0.0, rmse=estimates[anchor].rmse)
    log.info("estimated input azimuths (deg): %s", ", ".join(f"{math.degrees(e.azimuth):.1f}" for e in estimates))

    input_pool = RayPool(inputs, [orbit_camera(e.azimuth, size) for e in estimates])
    orbit_pool = RayPool(orbit.images, [orbit_camera(a, size) for a in orbit.angles])
    generator = torch.Generator().manual_seed(config.seed)
    seeker = ModeSeeker(synth, inputs, config, generator, anchor)
    stage_times: list[float] = []

    def loss_terms(field: VoxelField, i: int) -> dict[str, torch.Tensor]:
        rays, samples = config.rays_per_step, config.samples_per_ray
        terms = {"inputs": config.input_weight * input_pool.loss(field, rays, samples, generator)}
        if i < config.plain_iterations:
            terms["orbit"] = orbit_pool.loss(field, rays, samples, generator)
        else:
            if not stage_times:
                stage_times.append(time.perf_counter())
            terms["mode_seeking"] = seeker.loss(field)
        return terms

    field = VoxelField(config.grid_resolution)
    losses = yield from optimise(field, loss_terms, config.iterations, config)
    finished = time.perf_counter()
    stage1_done = stage_times[0] if stage_times else finished
    return DistillResult(
        field=field,
        inputs=inputs,
        orbit_images=orbit.images,
        orbit_angles=list(orbit.angles),
        input_azimuths=estimates,
        config=config,
        timings={
            "orbit_s": orbit_done - started,
            "stage1_s": stage1_done - orbit_done,
            "mode_seeking_s": finished - stage1_done,
            "total_s": finished - started,
        },
        losses=losses,
    )
