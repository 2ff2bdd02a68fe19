"""Training of the temporal model D_time (``nvs-fusion train-temporal``).

The loss is the view model's, for a clip: all F frames of a single-view clip are noised to one
shared level (the composition denoises the whole matrix at one level), the model sees them with
the clean first frame, and learns ε or v with an L2 loss. Everything else (optimiser, warm-up,
EMA, bf16, checkpoints, ``--resume``) is :class:`.train.Trainer`'s, through its hooks.
"""

from __future__ import annotations

import torch
from torch import nn

from ..datasets.video_dataset import VideoClips
from ..diffusion.schedules import NoiseSchedule, prediction_target
from ..model.temporal_unet import TemporalUNet, TemporalUNetConfig, temporal_preset
from .configs import TemporalTrainConfig
from .recipe import Recipe
from .train import Trainer


def temporal_loss(
    model: nn.Module, schedule: NoiseSchedule, batch: dict, generator: torch.Generator | None = None,
    prediction: str = "v", recipe: Recipe | None = None,
) -> torch.Tensor:
    """‖target − model(y_t)‖² over every frame of every clip, with one level t per clip drawn and weighted by the
    recipe (``recipe.py``)."""
    recipe = recipe or Recipe()
    frames = batch["frames"]
    eps, y_t, level = schedule.noise_for_training(frames, generator, recipe.draw)
    output = model(y_t, batch["first"], batch["angle"].float(), level)
    per_clip = ((output.float() - prediction_target(prediction, frames.float(), eps.float(), level)) ** 2).flatten(1).mean(1)
    return torch.mean(per_clip * recipe.weights(level, prediction).to(per_clip.device))


class TemporalTrainer(Trainer):
    """:class:`.train.Trainer` with the temporal network, clip data and :func:`temporal_loss`."""

    cfg: TemporalTrainConfig

    def __init__(self, cfg: TemporalTrainConfig, model_config: TemporalUNetConfig | None = None, resume: bool = False):
        if cfg.sample_every:
            raise ValueError("the temporal trainer writes no sample grids; set sample_every to 0")
        super().__init__(cfg, model_config, resume)

    @staticmethod
    def preset_config(name: str) -> TemporalUNetConfig:
        return temporal_preset(name)

    def build_model(self) -> nn.Module:
        return TemporalUNet(self.model_config)

    def build_dataset(self) -> VideoClips:
        return VideoClips(self.cfg.data, "train", frames=self.cfg.frames, image_size=self.model_config.image_size,
                          seed=self.cfg.seed)

    def loss(self, batch: dict) -> torch.Tensor:
        return temporal_loss(self.net, self.schedule, batch, self.generator, self.model_config.prediction,
                             self.cfg.recipe())

    def metadata(self) -> dict:
        meta = super().metadata()
        meta.pop("max_views")
        meta["frames"] = self.cfg.frames
        return meta
