"""Where engines cache what they derive from a checkpoint: ONNX exports, TensorRT plans, calibrations.

Its own module so that the factory and each engine can use it without importing one
another. Every cached file is named by a hash of what it was made from, so a retrained
checkpoint never picks up a stale file.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import torch

from ..model.checkpoint import Checkpoint
from .onnx_export import export_matches_checkpoint, export_onnx

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Where exported ONNX files, TensorRT plans and calibrations are cached ($NVS_FUSION_CACHE or ~/.cache)."""
    root = os.environ.get("NVS_FUSION_CACHE") or Path.home() / ".cache" / "nvs_fusion_ros"
    return Path(root)


def model_sha256(model: torch.nn.Module) -> str:
    """A hash of the network's config and weights (fp32), independent of device and file."""
    digest = hashlib.sha256()
    config = getattr(model, "config", None)
    if config is not None:
        digest.update(repr(config).encode())
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().float().numpy().tobytes())
    return digest.hexdigest()


def onnx_path_for(checkpoint: Checkpoint, onnx_file_path: str | None = None, force: bool = False,
                  fp16: bool = False) -> Path:
    """The ONNX file for this checkpoint: the one named, the fp32 one shipped beside it, or a cached export.

    ``fp16`` asks for the mixed-precision export (fp16 body, fp32 conditioning) a strongly typed
    TensorRT build needs; it is always a cached export unless a file is named.
    """
    if onnx_file_path:
        if fp16:
            log.info("using the named ONNX file %s as is: a strongly typed TensorRT build keeps its precision",
                     onnx_file_path)
        return Path(onnx_file_path)
    if checkpoint.path is not None and not fp16:
        beside = checkpoint.path.with_suffix(".onnx")
        if export_matches_checkpoint(beside, checkpoint.path):
            return beside
    suffix = "-fp16" if fp16 else ""
    path = cache_dir() / f"viewfusion-{model_sha256(checkpoint.model)[:16]}{suffix}.onnx"
    if not path.is_file() or force:
        report = export_onnx(checkpoint.model, path, fp16=fp16)
        log.info("exported the model to %s (max abs diff vs torch fp32 %.2e)", path, report.max_abs_diff)
    return path
