"""The one ONNX export, used by training, the CLI and the runtime engines.

The graph has named inputs ``views, noisy, angle, noise_level`` and outputs
``noise, logits`` with a dynamic first (stream) axis, so one file serves any
number of views and hypotheses. Export is always verified against torch on the
CPU and the max absolute difference is reported.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..model.unet import ViewFusionUNet

log = logging.getLogger(__name__)

INPUT_NAMES = ("views", "noisy", "angle", "noise_level")
OUTPUT_NAMES = ("noise", "logits")
DEFAULT_OPSET = 17


@dataclass(frozen=True)
class ExportReport:
    path: Path
    max_abs_diff: float
    opset: int
    sha256: str


def example_inputs(image_size: int, streams: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random stream inputs of the right shapes and ranges."""
    g = torch.Generator().manual_seed(seed)
    views = torch.rand(streams, 3, image_size, image_size, generator=g) * 2 - 1
    noisy = torch.randn(streams, 3, image_size, image_size, generator=g)
    angle = torch.rand(streams, generator=g) * 2 * np.pi
    level = torch.rand(streams, generator=g).clamp(1e-4, 1 - 1e-4)
    return views, noisy, angle, level


def card_path(onnx_path: Path) -> Path:
    """The model card of an export: ``model.onnx`` -> ``model.card.json``."""
    return onnx_path.with_name(onnx_path.stem + ".card.json")


def export_matches_checkpoint(onnx_path: Path, checkpoint_path: Path) -> bool:
    """True when the card beside ``onnx_path`` says it was exported from exactly this checkpoint file
    and the ONNX file is the one exported (both sha256), so a stale or damaged export is never used."""
    card = card_path(onnx_path)
    if not (onnx_path.is_file() and card.is_file() and checkpoint_path.is_file()):
        return False
    try:
        facts = json.loads(card.read_text())
        return (facts["checkpoint"]["sha256"] == file_sha256(checkpoint_path)
                and facts["onnx"]["sha256"] == file_sha256(onnx_path))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_onnx(model: ViewFusionUNet, path: str | Path, opset: int = DEFAULT_OPSET, verify_streams: int = 3) -> ExportReport:
    """Export in fp32 with a dynamic stream axis, then compare ONNX Runtime (CPU) with torch."""
    import onnxruntime as ort

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.float().eval().to("cpu", memory_format=torch.contiguous_format)
    size = model.config.image_size
    dynamic = {name: {0: "streams"} for name in INPUT_NAMES + OUTPUT_NAMES}
    tmp = path.with_name(path.name + ".tmp")
    with torch.no_grad():
        torch.onnx.export(
            model, example_inputs(size, 2), str(tmp), input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES),
            dynamic_axes=dynamic, opset_version=opset, dynamo=False,
        )
    tmp.replace(path)
    inputs = example_inputs(size, verify_streams, seed=1)
    with torch.no_grad():
        expected = model(*inputs)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(list(OUTPUT_NAMES), {n: t.numpy() for n, t in zip(INPUT_NAMES, inputs, strict=True)})
    diff = max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected, strict=True))
    log.info("exported %s (opset %d); max abs diff vs torch on %d streams: %.3g", path, opset, verify_streams, diff)
    return ExportReport(path=path, max_abs_diff=diff, opset=opset, sha256=file_sha256(path))
