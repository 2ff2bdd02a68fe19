"""Periodic sample grids during training: what the EMA model makes of held-out objects."""

from __future__ import annotations

from pathlib import Path

import torch

from ..datasets.nmr_dataset import NMRViews
from ..diffusion.samplers import generators_from_seeds
from ..diffusion.sampling_spec import SamplingSpec
from ..diffusion.schedules import NoiseSchedule
from ..engines.torch_engine import TorchDenoiser
from ..model.unet import ViewFusionUNet
from ..synthesis.contact_sheet import contact_sheet, write_png
from ..synthesis.runner import Conditioning, ModelRunner
from ..synthesis.tensors import to_uint8


def write_sample_grid(
    model: ViewFusionUNet, schedule: NoiseSchedule, data_root: str, path: Path, count: int = 4,
    max_views: int = 6, steps: int = 25,
) -> Path:
    """One row per validation object: its input views, a DDIM sample and the true target."""
    split = "val"
    try:
        dataset = NMRViews(data_root, split, max_views=max_views, image_size=model.config.image_size, seed=1)
    except (FileNotFoundError, ValueError):
        dataset = NMRViews(data_root, "train", max_views=max_views, image_size=model.config.image_size, seed=1)
    items = [dataset[i] for i in range(min(count, len(dataset)))]
    conditioning = Conditioning.of([it["views"][: int(it["num_views"])] for it in items],
                                   [int(it["anchor"]) for it in items])
    angles = torch.tensor([float(it["target_angle"]) for it in items])
    was_training = model.training
    runner = ModelRunner(TorchDenoiser(model), schedule, model.config)
    out = runner.sample(conditioning, angles, generators_from_seeds(range(len(items))), runner.sampler(SamplingSpec(steps=steps)))
    model.train(was_training)
    samples = to_uint8(out.images)
    rows = []
    for it, sample in zip(items, samples, strict=True):
        inputs = list(to_uint8(it["views"][: int(it["num_views"])]))
        truth = to_uint8(it["target"][None])[0]
        rows.append((f"{it['object_id']}: {len(inputs)} views | sample | truth", [*inputs, sample, truth]))
    return write_png(path, contact_sheet(rows, tile=64))



