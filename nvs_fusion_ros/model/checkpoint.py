"""Checkpoints: network config + noise schedule + weights + metadata in one file.

Files are written with ``torch.save`` and read with ``torch.load(weights_only=True)``,
which unpickles only tensors and plain containers: a checkpoint from an
untrusted source cannot run code. Every failure names the file and the problem.

A checkpoint holds one of the project's networks, named by its ``kind`` (:data:`KINDS`):
the ViewFusion view model (files without a ``kind`` are view models) or the temporal model
of the score composition. A loader says which kind it needs and gets a clear error otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..atomic_file import atomic_path
from ..diffusion.schedules import NoiseSchedule
from .config import UNetConfig
from .temporal_unet import TemporalUNet, TemporalUNetConfig
from .unet import ViewFusionUNet

FORMAT = "nvs_fusion_ros.viewfusion"
VERSION = 1
#: kind -> (config class, network class)
KINDS: dict[str, tuple[type[UNetConfig], type[ViewFusionUNet] | type[TemporalUNet]]] = {
    "viewfusion": (UNetConfig, ViewFusionUNet),
    "temporal": (TemporalUNetConfig, TemporalUNet),
}


def model_kind(model: ViewFusionUNet | TemporalUNet) -> str:
    """The checkpoint kind of a network."""
    for kind, (_, network) in KINDS.items():
        if type(model) is network:
            return kind
    raise TypeError(f"no checkpoint kind for a {type(model).__name__}")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used, with the file and the reason in the message."""


@dataclass
class Checkpoint:
    """A loaded model: its network (in eval mode), schedule and free-form metadata."""

    config: UNetConfig
    schedule: NoiseSchedule
    model: ViewFusionUNet | TemporalUNet
    metadata: dict = field(default_factory=dict)
    path: Path | None = None


def save_checkpoint(
    path: str | Path, model: ViewFusionUNet | TemporalUNet, schedule: NoiseSchedule, metadata: dict | None = None,
    half: bool = False,
) -> Path:
    """Write a checkpoint atomically (a crash mid-write never leaves a truncated file behind).

    ``half`` stores the weights in fp16, half the size (e.g. a checkpoint shipped with the
    package); loading casts them back to fp32, so the file loads like any other.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "kind": model_kind(model),
        "config": model.config.to_dict(),
        "schedule": schedule.to_dict(),
        "state_dict": {k: v.detach().cpu().to(torch.float16 if half else torch.float32).contiguous()
                       for k, v in model.state_dict().items()},
        "metadata": dict(metadata or {}),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", kind: str = "viewfusion") -> Checkpoint:
    """Read and validate a checkpoint of the given ``kind``; raise FileNotFoundError or CheckpointError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated, corrupt or foreign files
        raise CheckpointError(f"checkpoint {path} is unreadable (corrupt, truncated or not a checkpoint): {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a {FORMAT} checkpoint")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {payload.get('version')}, expected {VERSION}")
    found = payload.get("kind", "viewfusion")
    if found != kind or kind not in KINDS:
        raise CheckpointError(f"checkpoint {path} holds a {found!r} model, expected a {kind!r} model")
    config_class, network_class = KINDS[kind]
    try:
        config = config_class.from_dict(payload["config"])
        schedule = NoiseSchedule.from_dict(payload["schedule"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} has an invalid config or schedule: {exc}") from exc
    model = network_class(config)
    state = payload.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds no state_dict")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"checkpoint {path} does not match its config: missing {missing[:5]}, unexpected {unexpected[:5]}, "
            f"wrong shapes {wrong[:5]}"
        )
    model.load_state_dict(state)
    model.eval()
    return Checkpoint(config, schedule, model, dict(payload.get("metadata", {})), path)
