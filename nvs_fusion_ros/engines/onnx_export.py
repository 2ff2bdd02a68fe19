"""The one ONNX export, used by training, the CLI and the runtime engines.

The graph has named inputs ``views, noisy, angle, noise_level`` and outputs
``noise, logits`` with a dynamic first (stream) axis, so one file serves any
number of views and hypotheses. ``views`` has ``config.condition_channels``
channels (3 canonical, 6 relative: view ⊕ anchor). Export is always verified
against torch on the CPU and the max absolute difference is reported.

``fp16=True`` exports the mixed-precision graph a strongly typed TensorRT build
needs (TensorRT 11 has no other fp16 route): the U-Net body in fp16, but the
noise-level/angle conditioning and every GroupNorm in fp32, with fp32 inputs and
outputs. In fp16 the signal fraction at the last DDIM level (1 - 1e-4) rounds to
1.0, so log(1 - gamma) would be -inf and the embedding NaN.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..atomic_file import atomic_path
from ..model.config import UNetConfig
from ..model.unet import ViewFusionUNet
from .options import DEFAULT_OPSET

log = logging.getLogger(__name__)

INPUT_NAMES = ("views", "noisy", "angle", "noise_level")
OUTPUT_NAMES = ("noise", "logits")


@dataclass(frozen=True)
class ExportReport:
    path: Path
    max_abs_diff: float
    opset: int
    sha256: str


def import_onnxruntime():
    """The ``onnxruntime`` module (CPU build, or onnxruntime-gpu: both install it), or one clear error.

    It is an extra (``[cpu]`` or ``[gpu]``), not a base requirement, because the two builds
    cannot be installed side by side.
    """
    try:
        import onnxruntime
    except ImportError as exc:
        raise ValueError("ONNX Runtime is not installed: pip install 'nvs_fusion_ros[cpu]' "
                         "(or '[gpu]' for onnxruntime-gpu)") from exc
    return onnxruntime


def input_shapes(config: UNetConfig, streams: int) -> dict[str, tuple[int, ...]]:
    """The shape of each graph input for ``streams`` streams: the one place engines read them from."""
    size = config.image_size
    return {"views": (streams, config.condition_channels, size, size), "noisy": (streams, config.image_channels, size, size),
            "angle": (streams,), "noise_level": (streams,)}


#: streams in a typical engine call: the node's defaults, 6 key views x 4 hypotheses. TensorRT profiles are
#: tuned for it (their ``opt`` shape) and ``engine="auto"`` calibrates at it (capped by ``max_batch``).
TYPICAL_STREAMS = 24


def profile_shapes(config: UNetConfig, max_batch: int) -> dict[str, tuple[tuple[int, ...], ...]]:
    """(min, opt, max) shapes of each input for one optimisation profile over 1..max_batch streams.

    The optimum is the typical call (``TYPICAL_STREAMS``, capped by ``max_batch``): tuning for the
    maximum would pick kernels for chunks that only the largest requests fill.
    """
    if max_batch < 1:
        raise ValueError(f"max_batch must be at least 1, got {max_batch}")
    small, typical, large = (input_shapes(config, n) for n in (1, min(TYPICAL_STREAMS, max_batch), max_batch))
    return {name: (small[name], typical[name], large[name]) for name in INPUT_NAMES}


def example_inputs(config: UNetConfig, streams: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random stream inputs of the right shapes (``views`` has the config's condition channels) and ranges."""
    g = torch.Generator().manual_seed(seed)
    shapes = input_shapes(config, streams)
    views = torch.rand(shapes["views"], generator=g) * 2 - 1
    noisy = torch.randn(shapes["noisy"], generator=g)
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


class _Fp32GroupNorm(nn.Module):
    """A GroupNorm that computes in fp32 inside an fp16 graph (fp16 variance of large activations overflows)."""

    def __init__(self, norm: nn.GroupNorm):
        super().__init__()
        self.norm = norm.float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.float()).to(x.dtype)


class _MixedPrecisionUNet(nn.Module):
    """fp32 in and out; the U-Net body in fp16; conditioning embedding and GroupNorms in fp32."""

    def __init__(self, model: ViewFusionUNet):
        super().__init__()
        self.body = model.half()
        self.body.cond_mlp.float()  # the embedding is computed in fp32 and cast to the body's dtype after
        _wrap_group_norms(self.body)
        self.config = model.config

    def forward(self, views, noisy, angle, noise_level):
        noise, logits = self.body(views.half(), noisy.half(), angle.float(), noise_level.float())
        return noise.float(), logits.float()


def _wrap_group_norms(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.GroupNorm):
            setattr(module, name, _Fp32GroupNorm(child))
        else:
            _wrap_group_norms(child)


def export_onnx(model: ViewFusionUNet, path: str | Path, opset: int = DEFAULT_OPSET, verify_streams: int = 3,
                fp16: bool = False) -> ExportReport:
    """Export with a dynamic stream axis (fp32, or mixed fp16 for TensorRT), then compare ONNX Runtime (CPU) with torch.

    The caller's model is left as it was (device, dtype, mode): the export works on a copy.
    The fp16 graph's difference is against torch in fp32, so it measures the fp16 rounding too.
    """
    ort = import_onnxruntime()

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    reference = copy.deepcopy(model).float().eval().to("cpu", memory_format=torch.contiguous_format)
    exported: nn.Module = _MixedPrecisionUNet(copy.deepcopy(reference)) if fp16 else reference
    config = model.config
    dynamic = {name: {0: "streams"} for name in INPUT_NAMES + OUTPUT_NAMES}
    with atomic_path(path) as tmp, torch.no_grad():
        torch.onnx.export(
            exported, example_inputs(config, 2), str(tmp), input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES), dynamic_axes=dynamic, opset_version=opset, dynamo=False,
        )
    inputs = example_inputs(config, verify_streams, seed=1)
    with torch.no_grad():
        expected = reference(*inputs)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(list(OUTPUT_NAMES), {n: t.numpy() for n, t in zip(INPUT_NAMES, inputs, strict=True)})
    diff = max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected, strict=True))
    log.info("exported %s (opset %d%s); max abs diff vs torch fp32 on %d streams: %.3g", path, opset,
             ", fp16 body" if fp16 else "", verify_streams, diff)
    return ExportReport(path=path, max_abs_diff=diff, opset=opset, sha256=file_sha256(path))
