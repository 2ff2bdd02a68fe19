"""Noise schedules: the β_t of the forward process and everything derived from them.

Notation follows the ViewFusion paper (Appendix A): α_t = 1 - β_t and
γ_t = ∏ α_t (ᾱ_t elsewhere). Index ``t`` here is 0-based: ``gammas[0]`` is the
paper's γ_1, the least noisy level.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import torch

LevelDraw = Callable[["NoiseSchedule", int, "torch.Generator | None"], torch.Tensor]


@dataclass(frozen=True)
class NoiseSchedule:
    """A discrete variance-preserving schedule of ``T`` levels."""

    kind: str
    betas: torch.Tensor  # (T,) float64

    @property
    def num_steps(self) -> int:
        return int(self.betas.numel())

    @cached_property
    def alphas(self) -> torch.Tensor:
        return 1.0 - self.betas

    @cached_property
    def gammas(self) -> torch.Tensor:
        """γ_t = ∏_{s<=t} α_s: the signal fraction of y_t (ᾱ_t in DDPM notation)."""
        return torch.cumprod(self.alphas, dim=0)

    def gamma(self, t: torch.Tensor | int) -> torch.Tensor:
        """γ at integer level(s) ``t`` as float32."""
        return self.gammas[torch.as_tensor(t, dtype=torch.long)].float()

    def add_noise(self, y0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Forward process q(y_t | y_0) = N(√γ_t y_0, (1-γ_t) I) (paper eq. 6)."""
        gamma = self.gamma(t.cpu()).to(y0.device).view(-1, *([1] * (y0.dim() - 1)))
        return gamma.sqrt() * y0 + (1.0 - gamma).sqrt() * noise

    def noise_for_training(
        self, y0: torch.Tensor, generator: torch.Generator | None = None, draw_levels: LevelDraw | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Algorithm 1, lines 3-4: a level per item (uniform, or ``draw_levels(schedule, count, generator)``)
        and Gaussian noise; returns (ε, y_t, γ_t)."""
        if draw_levels is None:
            t = torch.randint(0, self.num_steps, (y0.shape[0],), generator=generator)
        else:
            t = draw_levels(self, y0.shape[0], generator)
        eps = torch.randn(y0.shape, generator=generator).to(y0.device)
        return eps, self.add_noise(y0, t, eps), self.gamma(t).to(y0.device)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "betas": self.betas.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> NoiseSchedule:
        betas = torch.tensor(data["betas"], dtype=torch.float64)
        if betas.dim() != 1 or betas.numel() < 1 or not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError("a schedule needs a non-empty 1-D list of betas in (0, 1)")
        return cls(kind=str(data.get("kind", "custom")), betas=betas)


def linear_schedule(start: float = 1e-6, end: float = 1e-2, num_steps: int = 2000) -> NoiseSchedule:
    """The paper's schedule (Appendix B.1): β linear from 1e-6 to 1e-2 over T = 2000."""
    return NoiseSchedule("linear", torch.linspace(start, end, num_steps, dtype=torch.float64))


def cosine_schedule(num_steps: int = 1000, offset: float = 0.008) -> NoiseSchedule:
    """Nichol & Dhariwal's cosine schedule; betas clipped at 0.999 as in their paper."""
    steps = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    f = torch.cos((steps + offset) / (1 + offset) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return NoiseSchedule("cosine", betas)


PREDICTIONS = ("eps", "v")


def _gamma_like(gamma: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    gamma = torch.as_tensor(gamma, dtype=torch.float32, device=like.device)
    return gamma.view(-1, *([1] * (like.dim() - 1))) if gamma.dim() else gamma


def prediction_target(prediction: str, y0: torch.Tensor, eps: torch.Tensor, gamma: torch.Tensor | float) -> torch.Tensor:
    """What the network learns to output: the noise ε (the paper) or v = √γ ε − √(1−γ) y0.

    v-prediction (Salimans & Ho 2022) keeps the output at unit scale at every level, so the
    clean image stays learnable where γ is tiny (γ_T ≈ 4.5e-5 on the paper's schedule: an
    ε-output would need 1/√γ ≈ 150x more precision than bf16 has). Both are affine in ε for a
    given y_t with the same coefficients for every view, so the softmax-weighted composition
    over views gives exactly the same composite noise either way.
    """
    if prediction == "eps":
        return eps
    if prediction == "v":
        g = _gamma_like(gamma, y0)
        return g.sqrt() * eps - (1 - g).sqrt() * y0
    raise ValueError(f"unknown prediction {prediction!r}; choose one of {list(PREDICTIONS)}")


def prediction_to_eps(prediction: str, output: torch.Tensor, y_t: torch.Tensor, gamma: torch.Tensor | float) -> torch.Tensor:
    """The noise ε implied by a (composed) network output at y_t: ε = √γ v + √(1−γ) y_t for v."""
    if prediction == "eps":
        return output
    if prediction == "v":
        g = _gamma_like(gamma, y_t)
        return g.sqrt() * output + (1 - g).sqrt() * y_t
    raise ValueError(f"unknown prediction {prediction!r}; choose one of {list(PREDICTIONS)}")


SCHEDULES = {"linear": linear_schedule, "cosine": cosine_schedule}


def make_schedule(kind: str, num_steps: int | None = None) -> NoiseSchedule:
    """A schedule by name (``linear`` is the paper's)."""
    if kind not in SCHEDULES:
        raise ValueError(f"unknown noise schedule {kind!r}; choose one of {sorted(SCHEDULES)}")
    return SCHEDULES[kind]() if num_steps is None else SCHEDULES[kind](num_steps=num_steps)
