"""``nvs-fusion build-engine``: build (or refresh) the cached TensorRT plan of a checkpoint ahead of time.

The first start of a node would build it anyway; doing it here keeps that minutes-long
step out of a robot's boot and shows the TensorRT log in a terminal.
"""

from __future__ import annotations

import argparse
import logging

from ..model.assets import ASSETS
from .options import EngineOptions

log = logging.getLogger(__name__)


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    defaults = EngineOptions()
    parser = subparsers.add_parser(
        "build-engine", epilog=f"example:\n  nvs-fusion build-engine {ASSETS['view'].relative}",
        description="Build the TensorRT plan of a checkpoint on this GPU and cache it, so a node's first start "
                    "does not spend minutes on it. Needs an NVIDIA GPU and tensorrt >= 10.1.")
    parser.add_argument("checkpoint", help="model checkpoint (.pt)")
    parser.add_argument("--onnx", default=None, help="ONNX file to build from (default: exported from the checkpoint)")
    parser.add_argument("--engine-file", default=None, help="where to write the plan (default: the engine cache)")
    parser.add_argument("--fp16", action=argparse.BooleanOptionalAction, default=defaults.enable_fp16,
                        help="fp16 body from the mixed-precision export (conditioning and norms stay fp32)")
    parser.add_argument("--max-batch", type=int, default=defaults.max_batch,
                        help="most streams (views x hypotheses) per engine call")
    parser.add_argument("--workspace", type=int, default=defaults.max_workspace_size, help="builder workspace in bytes")
    parser.add_argument("--force", action="store_true", help="rebuild even when a matching plan is cached")
    parser.add_argument("--device", default="auto", help="auto, cuda or cuda:N")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    options = EngineOptions(
        engine="tensorrt", device=args.device, onnx_file_path=args.onnx, engine_file_path=args.engine_file,
        force_engine_update=args.force, enable_fp16=args.fp16, max_workspace_size=args.workspace, max_batch=args.max_batch,
    )
    from ..model.checkpoint import load_checkpoint
    from .factory import create_denoiser

    try:
        denoiser = create_denoiser(load_checkpoint(args.checkpoint), options)
    except RuntimeError as exc:  # TensorRT's own failures: the TensorRT log above says more, a traceback would not
        log.error("%s", exc)
        return 2
    print(f"{denoiser.describe()}: {denoiser.plan_path}")
    return 0
