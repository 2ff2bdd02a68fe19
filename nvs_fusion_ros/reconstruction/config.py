"""Settings of a reconstruction, free of torch so the CLI and the ROS parameters read their defaults cheaply."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..diffusion.sampling_spec import SamplingSpec

DEFAULT_SURFACE_THRESHOLD = 0.1  # the opacity of one voxel at which the surface is drawn


@dataclass(frozen=True)
class DistillConfig:
    """Knobs of a distillation run; the defaults reconstruct a 32x32 object in a few CPU minutes."""

    iterations: int = 300  # total; the first third fits plain predictions when mode_seeking
    mode_seeking: bool = True  # False: every iteration fits the orbit (the paper's mean-seeking baseline)
    orbit_views: int = 12  # synthesized views, evenly spaced in azimuth
    orbit_sampling: SamplingSpec = field(default_factory=SamplingSpec)  # each orbit view's sampler; its seed is ``seed``
    guidance_steps: int = 8  # most DDIM steps of one mode-seeking denoise (paper: 50 on a GPU)
    min_noise: float = 0.02  # mode-seeking t ~ U[min_noise, max_noise] x T (paper: (0, T])
    max_noise: float = 0.98
    elevation_jitter: float = 0.05  # radians, std; the paper's 0.17 suits pose-conditioned models, ours knows only 30°
    grid_resolution: int = 48
    samples_per_ray: int = 64
    rays_per_step: int = 1024  # random rays per known-view batch (orbit, inputs)
    learning_rate: float = 0.1
    final_lr_fraction: float = 0.1  # exponential decay to this fraction of the rate at the last iteration
    input_weight: float = 1.0
    ssim_weight: float = 0.2
    tv_weight: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        positive = ("iterations", "orbit_views", "guidance_steps", "grid_resolution",
                    "samples_per_ray", "rays_per_step", "learning_rate")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if not 0.0 <= self.min_noise <= self.max_noise <= 1.0:
            raise ValueError(f"need 0 <= min_noise <= max_noise <= 1, got {self.min_noise}, {self.max_noise}")
        if self.orbit_sampling.seed is not None:
            raise ValueError("the orbit is seeded by DistillConfig.seed, the run's one seed; leave orbit_sampling's unset")
        if not 0.0 < self.final_lr_fraction <= 1.0:
            raise ValueError(f"final_lr_fraction must be in (0, 1], got {self.final_lr_fraction}")

    @property
    def plain_iterations(self) -> int:
        """Stage 1 length: a third of the run under mode seeking (paper: 1,000 of 3,000), else all of it."""
        return self.iterations // 3 if self.mode_seeking else self.iterations
