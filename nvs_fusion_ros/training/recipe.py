"""The training recipe's choices: which noise levels a batch trains on, and how each level's loss counts.

The paper draws the level t uniformly over its linear schedule (β 1e-6..1e-2, T = 2000). On that
schedule about 29 % of the draws have a log-SNR below -5, where the target is almost pure noise and
the network learns little about the object, and only about half lie in [-3, 3]
(:func:`log_snr_fractions` measures it, and where the loss's weight lies). Two remedies from the literature, each a small class
chosen by name:

* **timesteps** (``TIMESTEPS``): ``uniform`` (the paper) or ``log-normal``: ln σ ~ N(P_mean, P_std²)
  with σ = √((1-γ)/γ) (Karras et al. 2022, EDM: P_mean -1.2, P_std 1.2), each draw mapped to the
  discrete level whose σ is nearest above it, so the sampler's levels are unchanged and only how
  often each one is trained changes.
* **loss weighting** (``WEIGHTINGS``): ``none`` (the plain L2 of the prediction target) or
  ``min-snr``: Min-SNR-γ (Hang et al. 2023), which caps the weight of the easy, low-noise levels;
  for v-prediction the per-item weight is min(SNR, γ) / (SNR + 1), for ε-prediction min(SNR, γ) / SNR.

Both move training away from the noisiest levels, and for v-prediction Min-SNR's weight is about SNR
there: the levels below log-SNR -4 carry 37 % of the paper's loss, 0.7 % of it with Min-SNR-5 and 0.01 %
with both remedies. Those are the levels at which a sampler's first steps decide the object's layout and
silhouette from the input views, so a long run with both remedies loses them (``models/README.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where levels are drawn: the command line lists the choices without it
    import torch

    from ..diffusion.schedules import NoiseSchedule


@dataclass(frozen=True)
class UniformTimesteps:
    """Every level equally often (the paper's Algorithm 1)."""

    def __call__(self, schedule: NoiseSchedule, count: int, generator: torch.Generator | None) -> torch.Tensor:
        import torch

        return torch.randint(0, schedule.num_steps, (count,), generator=generator)


@dataclass(frozen=True)
class LogNormalTimesteps:
    """Levels drawn log-normal in σ (EDM's training distribution) on the discrete schedule."""

    p_mean: float = -1.2
    p_std: float = 1.2

    def __call__(self, schedule: NoiseSchedule, count: int, generator: torch.Generator | None) -> torch.Tensor:
        import torch

        log_sigma = self.p_mean + self.p_std * torch.randn(count, generator=generator, dtype=torch.float64)
        table = schedule_log_sigmas(schedule)  # increasing with t
        return torch.searchsorted(table, log_sigma).clamp(0, schedule.num_steps - 1)


def schedule_log_sigmas(schedule: NoiseSchedule) -> torch.Tensor:
    """ln σ_t = ½ ln((1 - γ_t) / γ_t) per level, float64, increasing with t."""
    gammas = schedule.gammas
    return 0.5 * ((1.0 - gammas) / gammas).log()


def log_snr(schedule: NoiseSchedule, t: torch.Tensor) -> torch.Tensor:
    """ln SNR_t = ln(γ_t / (1 - γ_t)) = -2 ln σ_t at integer levels."""
    return -2.0 * schedule_log_sigmas(schedule)[t]


@dataclass(frozen=True)
class NoWeighting:
    """The plain mean squared error of the prediction target at every level."""

    @classmethod
    def of(cls, recipe: Recipe) -> NoWeighting:
        return cls()

    def __call__(self, snr: torch.Tensor, prediction: str) -> torch.Tensor:
        return snr.new_ones(snr.shape)


@dataclass(frozen=True)
class MinSnrWeighting:
    """Min-SNR-γ: the loss of a level with SNR above γ counts as if its SNR were γ.

    Written for the target the network predicts: an ε-loss at SNR s equals s times the x0-loss, a
    v-loss (s + 1) times it, so the x0-loss weight min(s, γ) becomes min(s, γ)/s or min(s, γ)/(s + 1).
    """

    gamma: float = 5.0

    @classmethod
    def of(cls, recipe: Recipe) -> MinSnrWeighting:
        return cls(recipe.min_snr_gamma)

    def __call__(self, snr: torch.Tensor, prediction: str) -> torch.Tensor:
        capped = snr.clamp(max=self.gamma)
        if prediction == "v":
            return capped / (snr + 1.0)
        if prediction == "eps":
            return capped / snr
        raise ValueError(f"unknown prediction {prediction!r}")


TIMESTEPS = {"uniform": UniformTimesteps, "log-normal": LogNormalTimesteps}
WEIGHTINGS = {"none": NoWeighting, "min-snr": MinSnrWeighting}


@dataclass(frozen=True)
class Recipe:
    """Which levels a batch trains on and how each item's loss is weighted."""

    timesteps: str = "uniform"
    weighting: str = "none"
    min_snr_gamma: float = 5.0

    def __post_init__(self) -> None:
        if self.timesteps not in TIMESTEPS:
            raise ValueError(f"unknown timestep distribution {self.timesteps!r}; choose one of {sorted(TIMESTEPS)}")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"unknown loss weighting {self.weighting!r}; choose one of {sorted(WEIGHTINGS)}")
        if not self.min_snr_gamma > 0:
            raise ValueError(f"min_snr_gamma must be > 0, got {self.min_snr_gamma:g}")

    def draw(self, schedule: NoiseSchedule, count: int, generator: torch.Generator | None) -> torch.Tensor:
        """``count`` integer levels."""
        return TIMESTEPS[self.timesteps]()(schedule, count, generator)

    def weights(self, gamma: torch.Tensor, prediction: str) -> torch.Tensor:
        """Per-item loss weights (float32) for items at signal levels ``gamma`` (SNR = γ / (1 − γ))."""
        weighting = WEIGHTINGS[self.weighting].of(self)
        gamma = gamma.double()
        return weighting(gamma / (1.0 - gamma), prediction).float()


def log_snr_fractions(schedule: NoiseSchedule, recipe: Recipe, draws: int = 200_000, seed: int = 0,
                      prediction: str = "v") -> dict[str, float]:
    """Fractions of a recipe's training levels below ln SNR -5 and inside [-3, 3], and the share of its loss
    weight on levels below ln SNR -4 (Monte Carlo)."""
    import torch

    t = recipe.draw(schedule, draws, torch.Generator().manual_seed(seed))
    lam, weights = log_snr(schedule, t), recipe.weights(schedule.gammas[t], prediction).double()
    return {"below_-5": float((lam < -5).double().mean()), "within_-3_3": float((lam.abs() <= 3).double().mean()),
            "loss_below_-4": float(weights[lam < -4].sum() / weights.sum())}
