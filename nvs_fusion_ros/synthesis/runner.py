"""The one path from a model to its consumers: engine + schedule + stream budget.

``ModelRunner`` is what the synthesizer, the video synthesizer, distillation, evaluation and
the nodes hold. It turns a batch of *items* (each a target with its own pose-free conditioning
views) into network streams, runs the engine on at most ``max_batch`` streams per call, composes
the views with ViewFusion's softmax weights and hands the samplers an ε-prediction. Nothing
else in the package calls a ``Denoiser`` directly.

Angles are radians and are wrapped into [0, 2π) here in float64, before the float32 encoding
could lose them: any finite angle is valid. What an angle is measured from depends on the
model (``UNetConfig.angle_reference``): the object's canonical frame, or the item's *anchor*
view (relative mode, the robot's camera). In relative mode each stream's condition is its view
⊕ the anchor view, so the runner needs the anchor of every item (:class:`Conditioning`).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass

import torch

from ..diffusion.composition import compose_noise, expand_to_streams
from ..diffusion.samplers import DenoiseStep, Sampler, gaussian_like, make_sampler, reverse_process
from ..diffusion.sampling_spec import SamplingSpec
from ..diffusion.schedules import NoiseSchedule, prediction_to_eps
from ..diffusion.score_composition import clean_from_eps
from ..diffusion.stepwise import Stepwise
from ..diffusion.streams import stream_conditions
from ..engines.base import Denoiser
from ..engines.factory import EngineOptions, create_denoiser
from ..model.checkpoint import Checkpoint
from ..model.config import UNetConfig
from .preprocess import wrap_angle


@dataclass(frozen=True)
class Conditioning:
    """The conditioning views of B items: streams stacked item after item.

    views: (M, 3, H, W) in [-1, 1]; view_counts: (B,) views per item, summing to M;
    anchors: (B,) index of each item's anchor view within its own views (relative mode).
    """

    views: torch.Tensor
    view_counts: torch.Tensor
    anchors: torch.Tensor

    @classmethod
    def of(cls, items: Sequence[torch.Tensor], anchors: Sequence[int] | None = None) -> Conditioning:
        """From one (N_b, 3, H, W) tensor per item; the anchor defaults to each item's last (newest) view."""
        if len(items) == 0 or any(v.dim() != 4 or v.shape[0] < 1 for v in items):
            raise ValueError("every item needs a (N, 3, H, W) tensor of at least one view")
        counts = [int(v.shape[0]) for v in items]
        chosen = [n - 1 for n in counts] if anchors is None else [int(a) for a in anchors]
        if len(chosen) != len(items) or any(not -n <= a < n for a, n in zip(chosen, counts, strict=True)):
            raise ValueError(f"anchor indices {list(chosen)} do not fit items of {counts} views")
        return cls(torch.cat(list(items)), torch.tensor(counts, dtype=torch.long),
                   torch.tensor([a % n for a, n in zip(chosen, counts, strict=True)], dtype=torch.long))

    @classmethod
    def repeated(cls, views: torch.Tensor, times: int, anchor: int = -1) -> Conditioning:
        """The same views (N, 3, H, W) for ``times`` items (e.g. K hypotheses of one request)."""
        return cls.of([views] * times, [anchor] * times)

    def __len__(self) -> int:
        return len(self.view_counts)

    def select(self, items: Sequence[int]) -> Conditioning:
        """The conditioning of a subset of items, in the given order."""
        starts = torch.cumsum(self.view_counts, 0) - self.view_counts
        parts = [self.views[int(starts[i]) : int(starts[i]) + int(self.view_counts[i])] for i in items]
        return Conditioning.of(parts, [int(self.anchors[i]) for i in items])


@dataclass
class Samples:
    """Clean targets (B, 3, H, W) in [-1, 1] and the padded weights (B, N_max, H, W).

    The weights are averaged over colour channels and over all denoising steps:
    they explain which view each pixel came from across the whole trajectory,
    and still sum to one over views at every pixel.
    """

    images: torch.Tensor
    weights: torch.Tensor


def wrap_angles(angles: torch.Tensor | Sequence[float]) -> torch.Tensor:
    """Per-item angles wrapped by :func:`wrap_angle` (before float32 could overflow the encoding)."""
    values = angles.tolist() if isinstance(angles, torch.Tensor) else list(angles)
    return torch.tensor([wrap_angle(float(a)) for a in values], dtype=torch.float32)


class ModelRunner:
    """A view model ready to run: its engine, noise schedule, config and the streams-per-call budget."""

    def __init__(self, denoiser: Denoiser, schedule: NoiseSchedule, config: UNetConfig, max_batch: int = 64):
        if max_batch < 1:
            raise ValueError(f"max_batch (streams per engine call) must be at least 1, got {max_batch}")
        self.denoiser = denoiser
        self.schedule = schedule
        self.config = config
        self.max_batch = max_batch

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint, options: EngineOptions | None = None) -> ModelRunner:
        """Build the engine ``options`` ask for (logged with the reason) and wrap it."""
        options = options or EngineOptions()
        return cls(create_denoiser(checkpoint, options), checkpoint.schedule, checkpoint.config, options.max_batch)

    def with_denoiser(self, denoiser: Denoiser) -> ModelRunner:
        """The same runner on another engine (e.g. the uniform-weights ablation wrapper)."""
        return ModelRunner(denoiser, self.schedule, self.config, self.max_batch)

    @property
    def device(self) -> torch.device:
        return self.denoiser.device

    @property
    def relative(self) -> bool:
        """True when target angles are measured from each item's anchor view."""
        return self.config.relative

    def describe(self) -> str:
        return f"{self.denoiser.describe()}, {self.config.image_size}px, {self.config.angle_reference} angles"

    def sampler(self, spec: SamplingSpec) -> Sampler:
        """The sampler ``spec`` names (the registry's), on this model's schedule."""
        return make_sampler(spec, self.schedule)

    def stream_conditions(self, conditioning: Conditioning) -> torch.Tensor:
        """Each stream's condition, (M, condition_channels, H, W): the view, ⊕ its item's anchor in relative mode."""
        return stream_conditions(conditioning.views.to(self.device), conditioning.view_counts, conditioning.anchors,
                                 self.relative)

    def _network(self, conditions: torch.Tensor, noisy: torch.Tensor, angles: torch.Tensor,
                 gamma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The engine on M streams, ``max_batch`` at a time (streams are independent, so chunking is exact)."""
        b = self.max_batch
        parts = [self.denoiser(conditions[i : i + b], noisy[i : i + b], angles[i : i + b], gamma[i : i + b])
                 for i in range(0, conditions.shape[0], b)]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def predict(self, conditioning: Conditioning, noisy: torch.Tensor, angles: torch.Tensor, t: int,
                conditions: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The composed ε-prediction (B, 3, H, W) for noisy targets at level index ``t``, and the
        per-view weights (B, N_max, 3, H, W). ``conditions`` reuses :meth:`stream_conditions`."""
        counts = conditioning.view_counts.to(self.device)
        if conditions is None:
            conditions = self.stream_conditions(conditioning)
        noisy = noisy.to(self.device)
        gamma = self.schedule.gamma(t).to(self.device).expand(conditions.shape[0])
        prediction, logits = self._network(conditions, expand_to_streams(noisy, counts),
                                           expand_to_streams(wrap_angles(angles).to(self.device), counts), gamma)
        composite, weights = compose_noise(prediction, logits, counts)
        return prediction_to_eps(self.denoiser.prediction, composite, noisy, float(self.schedule.gammas[t])), weights

    def predict_clean(self, conditioning: Conditioning, noisy: torch.Tensor, angles: torch.Tensor, t: int,
                      conditions: torch.Tensor | None = None) -> torch.Tensor:
        """The composed clean-image estimate ŷ_0 (unclipped) of noisy targets at level ``t``."""
        eps, _ = self.predict(conditioning, noisy, angles, t, conditions)
        return clean_from_eps(noisy.to(self.device), eps, float(self.schedule.gammas[t]))

    def denoise(self, conditioning: Conditioning, angles: torch.Tensor | Sequence[float],
                generators: Sequence[torch.Generator], sampler: Sampler, noisy: torch.Tensor | None = None,
                level: int | None = None) -> Stepwise[DenoiseStep, Samples]:
        """The reverse process of one target per item, step by step (iterate it; check for cancellation
        between steps), then ``result``: the clean targets and the step-averaged weights.

        From pure noise (item b's from ``generators[b]`` only), or from ``noisy`` images at ``level``
        (SDEdit-style partial start: SparseFusion's mode seeking).
        """
        angles = torch.as_tensor(angles, dtype=torch.float64)  # float32 would round huge angles before wrapping
        if angles.shape != (len(conditioning),) or not bool(torch.isfinite(angles).all()):
            raise ValueError(f"need one finite angle per item ({len(conditioning)}), got {angles.tolist()}")
        if (noisy is None) != (level is None):
            raise ValueError("a partial start needs both the noisy images and their level")
        if noisy is None:
            size = conditioning.views.shape[-1]
            start = gaussian_like(torch.empty(len(conditioning), 3, size, size, device=self.device), generators)
        else:
            start = noisy.to(self.device)
        return Stepwise(self._reverse(conditioning, angles, generators, sampler, start, level))

    def sample(self, conditioning: Conditioning, angles: torch.Tensor | Sequence[float],
               generators: Sequence[torch.Generator], sampler: Sampler) -> Samples:
        """:meth:`denoise` from pure noise, run to the end."""
        return self.denoise(conditioning, angles, generators, sampler).result

    def refine(self, conditioning: Conditioning, angles: torch.Tensor | Sequence[float], noisy: torch.Tensor, t: int,
               generators: Sequence[torch.Generator], sampler: Sampler) -> Samples:
        """:meth:`denoise` from ``noisy`` images at level ``t``, run to the end."""
        return self.denoise(conditioning, angles, generators, sampler, noisy, t).result

    def _reverse(self, conditioning: Conditioning, angles: torch.Tensor, generators: Sequence[torch.Generator],
                 sampler: Sampler, start: torch.Tensor, level: int | None) -> Generator[DenoiseStep, None, Samples]:
        conditions = self.stream_conditions(conditioning)  # built once, reused at every level
        weight_sum = torch.zeros(len(conditioning), int(conditioning.view_counts.max()), *start.shape[2:],
                                 device=self.device)
        calls = 0

        def eps_fn(y_t: torch.Tensor, t: int) -> torch.Tensor:
            nonlocal weight_sum, calls
            eps, weights = self.predict(conditioning, y_t, angles, t, conditions)
            weight_sum += weights.mean(dim=2)
            calls += 1
            return eps

        images = yield from reverse_process(sampler, eps_fn, start, generators, start=level)
        return Samples(images=images.clamp(-1.0, 1.0), weights=weight_sum / max(calls, 1))
