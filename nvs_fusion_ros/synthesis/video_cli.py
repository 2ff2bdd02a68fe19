"""``nvs-fusion synthesize-video``: a clip of camera frames in, the V x F matrix out (PNGs, contact sheet, GIF).

The model code (torch) is imported inside ``run`` and ``read_clip``, so printing the options stays quick.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import Image

from .cli import add_engine_arguments, with_progress_bar
from .contact_sheet import contact_sheet, write_png
from .video_settings import METHODS, CompositionSettings, add_composition_arguments

if TYPE_CHECKING:
    from .video_synthesizer import VideoResult

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def evenly_spaced(count: int, wanted: int) -> list[int]:
    """``wanted`` indices spread evenly over 0..count-1, first and last included (all of them if fewer)."""
    if count < 1:
        raise ValueError("the clip has no frames")
    if wanted >= count:
        return list(range(count))
    return sorted({round(i * (count - 1) / max(wanted - 1, 1)) for i in range(wanted)})


def read_clip(sources: Sequence[str], frames: int) -> list[np.ndarray]:
    """RGB frames from image files (in the given order), a folder of images (sorted by name) or a video file,
    ``frames`` of them evenly spaced over the clip."""
    from .tensors import read_rgb

    if len(sources) == 1 and Path(sources[0]).is_dir():
        files = sorted(p for p in Path(sources[0]).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"no PNG/JPEG images in {sources[0]}")
        return [read_rgb(files[i]) for i in evenly_spaced(len(files), frames)]
    if len(sources) == 1 and Path(sources[0]).suffix.lower() not in IMAGE_SUFFIXES:
        return read_video(Path(sources[0]), frames)
    return [read_rgb(sources[i]) for i in evenly_spaced(len(sources), frames)]


def read_video(path: Path, frames: int) -> list[np.ndarray]:
    """``frames`` evenly spaced frames of a video file (anything OpenCV decodes), as RGB.

    Two passes, counting then keeping only the chosen frames, so a long video never sits in memory.
    """
    if not path.is_file():
        raise FileNotFoundError(f"no such clip: {path}")
    capture = cv2.VideoCapture(str(path))
    try:
        count = 0
        while capture.grab():
            count += 1
    finally:
        capture.release()
    if count == 0:
        raise ValueError(f"OpenCV decoded no frames from {path}")
    chosen = set(evenly_spaced(count, frames))
    capture = cv2.VideoCapture(str(path))
    kept = []
    try:
        for index in range(max(chosen) + 1):
            if not capture.grab():
                break
            if index in chosen:
                ok, bgr = capture.retrieve()
                if ok:
                    kept.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    if len(kept) != len(chosen):
        raise ValueError(f"{path}: could decode only {len(kept)} of the {len(chosen)} chosen frames")
    return kept


def matrix_rows(result: VideoResult, truth: np.ndarray | None = None) -> list[tuple[str, list[np.ndarray]]]:
    """Contact-sheet rows: the input frames, then per target view its synthesized frames (and the truth if given)."""
    rows = [("input frames (as the model sees them; frame 0 left)", [views[0] for views in result.inputs])]
    for v, angle in enumerate(result.angles):
        rows.append((f"{result.method} at {math.degrees(angle):.0f} deg", list(result.images[v])))
        if truth is not None:
            rows.append((f"ground truth at {math.degrees(angle):.0f} deg", list(truth[v])))
    return rows


def write_gif(path: Path, result: VideoResult, frame_ms: int = 250) -> Path:
    """One GIF frame per input frame: the input at the left, then every target view."""
    strips = [np.concatenate([result.inputs[f][0], *result.images[:, f]], axis=1) for f in range(result.images.shape[1])]
    big = [Image.fromarray(s).resize((s.shape[1] * 3, s.shape[0] * 3), Image.NEAREST) for s in strips]
    path.parent.mkdir(parents=True, exist_ok=True)
    big[0].save(path, save_all=True, append_images=big[1:], duration=frame_ms, loop=0)
    return path


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synthesize-video",
        description="Synthesize a moving object from several azimuths at every frame of a clip (Diffusion² "
                    "composition of the view model and the temporal model). Writes one PNG per view and frame, "
                    "contact_sheet.png, clip.gif and summary.json.",
        epilog="example:\n  nvs-fusion synthesize-video clip.mp4 --angles 90 180 270 --frames 8")
    parser.add_argument("clip", nargs="+", help="frames in order (PNG/JPEG), a folder of them, or a video file")
    parser.add_argument("--angles", type=float, nargs="+", default=[0.0, 90.0, 180.0, 270.0],
                        help="target azimuths in degrees")
    parser.add_argument("--frames", type=int, default=8, help="frames taken from the clip, evenly spaced")
    parser.add_argument("--method", default="composition", choices=METHODS,
                        help="composition: the view and temporal models together; per-frame: the view model alone")
    add_composition_arguments(parser)
    parser.add_argument("--seed", type=int, default=None, help="seed of the sampling noise; default: random")
    parser.add_argument("--temporal-model", default=None, help="temporal checkpoint; default: the shipped one")
    parser.add_argument("--out", default="out/synthesize_video", help="output folder")
    add_engine_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.frames < 1:
        raise ValueError(f"--frames must be at least 1, got {args.frames}")
    settings = CompositionSettings(steps=args.steps, weight=args.weight, rollback_steps=args.rollback,
                                   renoise_mode=args.renoise)
    frames = read_clip(args.clip, args.frames)
    from .video_synthesizer import VideoSynthesizer

    if args.method == "per-frame":
        from .synthesizer import NovelViewSynthesizer

        synth = VideoSynthesizer(NovelViewSynthesizer.from_checkpoint(args.model, engine=args.engine, device=args.device))
    else:
        synth = VideoSynthesizer.from_checkpoints(args.model, args.temporal_model, engine=args.engine, device=args.device)
    result = with_progress_bar(synth.synthesize_steps([[frame] for frame in frames], [math.radians(a) for a in args.angles],
                                                      args.method, settings, seed=args.seed), "denoising", "step")
    out = Path(args.out)
    for v, angle in enumerate(args.angles):
        for f, image in enumerate(result.images[v]):
            write_png(out / f"view_{v:02d}_{angle:g}deg" / f"frame_{f:03d}.png", image)
    write_png(out / "contact_sheet.png", contact_sheet(matrix_rows(result)))
    write_gif(out / "clip.gif", result)
    summary = {"angles_deg": args.angles, "frames": len(frames), "method": args.method, "settings": asdict(settings),
               "seeds": result.seeds, "timings": result.timings, "engine": synth.views.runner.describe()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0
