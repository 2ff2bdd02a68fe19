"""``nvs-fusion reconstruct``: pose-free views in; a point cloud, a mesh and a turntable sheet out.

Torch, kornia and the model load inside ``run``, so printing the options stays quick.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from ..synthesis.cli import add_engine_arguments, add_sampling_arguments, sampling_spec, with_progress_bar
from ..synthesis.contact_sheet import contact_sheet, write_png
from .config import DEFAULT_SURFACE_THRESHOLD, DistillConfig

if TYPE_CHECKING:
    import numpy as np

    from .distill import DistillResult


def turntable_sheet(result: DistillResult) -> np.ndarray:
    """Inputs (with estimated azimuths), the synthesized orbit and the field's renders at the same azimuths."""
    from .distill import orbit_camera
    from .renderer import render_image

    size = result.inputs.shape[1]
    estimated = ", ".join(f"{math.degrees(e.azimuth):.0f}" for e in result.input_azimuths)
    return contact_sheet([
        (f"inputs (estimated azimuths: {estimated} deg)", list(result.inputs)),
        ("synthesized orbit (" + ", ".join(f"{math.degrees(a):.0f}" for a in result.orbit_angles) + " deg)",
         list(result.orbit_images)),
        ("distilled field, same azimuths", [render_image(result.field, orbit_camera(a, size)) for a in result.orbit_angles]),
    ])


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    defaults = DistillConfig()
    parser = subparsers.add_parser(
        "reconstruct",
        description="Synthesize an orbit of views around the object, distill them into a voxel field and extract a "
                    "point cloud (points.ply) and a mesh (mesh.obj); turntable.png compares inputs, orbit and field.",
        epilog="example:\n  nvs-fusion reconstruct front.png left.png back.png --out out/mug")
    parser.add_argument("views", nargs="+", help="input view images (PNG/JPEG), pose-free")
    parser.add_argument("--out", default="out/reconstruct", help="output folder")
    parser.add_argument("--iterations", type=int, default=defaults.iterations,
                        help="field iterations; the first third fits the orbit, the rest seeks modes")
    parser.add_argument("--no-mode-seeking", action="store_true", help="fit the synthesized orbit only (faster, blurrier)")
    parser.add_argument("--orbit-views", type=int, default=defaults.orbit_views, help="synthesized views around the object")
    add_sampling_arguments(parser, steps_help="denoising steps per orbit view")
    parser.add_argument("--guidance-steps", type=int, default=defaults.guidance_steps,
                        help="most DDIM steps per mode-seeking target")
    parser.add_argument("--grid", type=int, default=defaults.grid_resolution, help="voxel grid resolution per axis")
    parser.add_argument("--surface-threshold", type=float, default=DEFAULT_SURFACE_THRESHOLD,
                        help="surface threshold (voxel opacity, 0..1)")
    parser.add_argument("--points", type=int, default=20000, help="points in the surface point cloud")
    parser.add_argument("--seed", type=int, default=0, help="seed of the orbit's samples and the field's rays")
    add_engine_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..synthesis.synthesizer import NovelViewSynthesizer
    from ..synthesis.tensors import read_rgb
    from .pipeline import reconstruct_steps

    views = [read_rgb(p) for p in args.views]
    config = DistillConfig(iterations=args.iterations, mode_seeking=not args.no_mode_seeking, orbit_views=args.orbit_views,
                           orbit_sampling=sampling_spec(args), guidance_steps=args.guidance_steps,
                           grid_resolution=args.grid, seed=args.seed)
    synth = NovelViewSynthesizer.from_checkpoint(args.model, engine=args.engine, device=args.device)
    result = with_progress_bar(reconstruct_steps(synth, views, config, args.surface_threshold, args.points,
                                                 out_dir=args.out), "reconstruct", "step")
    out = Path(args.out)
    write_png(out / "turntable.png", turntable_sheet(result.distilled))
    summary = {**result.summary(), "engine": synth.runner.describe(), "views": [str(p) for p in args.views],
               "surface_threshold": args.surface_threshold}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: summary[k] for k in ("input_azimuths_deg", "timings", "points", "triangles", "files")}, indent=2))
    return 0
