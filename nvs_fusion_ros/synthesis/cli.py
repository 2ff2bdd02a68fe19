"""``nvs-fusion synthesize``: PNG views in, synthesized PNGs and a contact sheet out.

Also the options every model-running subcommand shares. Torch and the model load inside ``run``, so
printing the options stays quick.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Protocol, TypeVar

from ..diffusion import DEFAULT_STEPS, SAMPLER_NAMES
from ..diffusion.sampling_spec import SamplingSpec, describe_options
from ..diffusion.stepwise import Stepwise
from ..engines.options import ENGINES

R = TypeVar("R")

EXAMPLES = """\
examples:
  nvs-fusion synthesize front.png left.png --angle 180 --num-hypotheses 4
  nvs-fusion synthesize views/*.png --angle 90 --model checkpoints/my_model.pt --engine onnxruntime
"""


class Counted(Protocol):
    """A step of a long computation: ``done`` of ``total`` (``DenoiseStep``, ``Progress``)."""

    done: int
    total: int


def with_progress_bar(run: Stepwise[Counted, R], desc: str, unit: str) -> R:
    """Drive ``run`` to the end under a tqdm bar; its result."""
    from tqdm import tqdm

    with tqdm(desc=desc, unit=unit) as bar:
        for state in run:
            bar.total, bar.n = state.total, state.done
            bar.refresh()
    return run.result


def add_sampling_arguments(parser: argparse.ArgumentParser, steps_help: str = "denoising steps per sample",
                           seed_help: str | None = None) -> None:
    """--sampler, --steps, --eta, --sampler-option (and --seed when ``seed_help`` is given): a ``SamplingSpec``."""
    parser.add_argument("--sampler", default="ddim", choices=SAMPLER_NAMES, help="reverse-process sampler")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=steps_help)
    parser.add_argument("--eta", type=float, default=0.0,
                        help="DDIM's eta: 0 deterministic, 1 as stochastic as DDPM (ddim only)")
    parser.add_argument("--sampler-option", action="append", default=[], metavar="KEY=VALUE",
                        help=f"a sampler's own option, repeatable (the first value is the default): {describe_options()}")
    if seed_help is not None:
        parser.add_argument("--seed", type=int, default=None, help=seed_help)


def sampling_spec(args: argparse.Namespace, seed: int | None = None) -> SamplingSpec:
    """The ``SamplingSpec`` of :func:`add_sampling_arguments`' options, with ``seed``."""
    return SamplingSpec.build(args.sampler, args.steps, args.eta, seed, args.sampler_option)


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Model and engine options shared by every subcommand that runs the model."""
    parser.add_argument("--model", default=None,
                        help="checkpoint (.pt); default: the shipped model")
    parser.add_argument("--engine", default="auto", choices=list(ENGINES),
                        help="inference engine; auto measures the installed ones and keeps the fastest")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synthesize", epilog=EXAMPLES,
        description="Synthesize an object from a new azimuth, from pose-free views of it. Writes sample_NN.png, "
                    "contact_sheet.png (inputs, hypotheses, weight and uncertainty maps) and summary.json.")
    parser.add_argument("views", nargs="+", help="input view images (PNG/JPEG), any order of azimuths")
    parser.add_argument("--angle", type=float, default=180.0,
                        help="target azimuth in degrees (180: the side the anchor view cannot see); relative to the "
                             "anchor view for a camera-relative model, to the dataset's frame for a canonical one")
    parser.add_argument("--anchor", type=int, default=-1,
                        help="index of the anchor view among the inputs (-1: the last one)")
    parser.add_argument("--num-hypotheses", type=int, default=1,
                        help="how many samples K of the target view (occlusion hypotheses); K > 1 adds an uncertainty map")
    add_sampling_arguments(parser, seed_help="seed of the first hypothesis (the k-th uses seed + k); default: random")
    parser.add_argument("--out", default="out/synthesize", help="output folder")
    add_engine_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .contact_sheet import Row, contact_sheet, heat_row, write_png
    from .synthesizer import NovelViewSynthesizer
    from .tensors import read_rgb

    views = [read_rgb(p) for p in args.views]
    sampling = sampling_spec(args, args.seed)  # refused before the model loads
    synth = NovelViewSynthesizer.from_checkpoint(args.model, engine=args.engine, device=args.device)
    [result] = with_progress_bar(synth.synthesize_steps(views, [math.radians(args.angle)], args.num_hypotheses,
                                                        sampling, args.anchor), "denoising", "step")
    out = Path(args.out)
    for k, image in enumerate(result.images):
        write_png(out / f"sample_{k:02d}.png", image)
    rows = [
        Row("inputs (as the model sees them)", list(result.inputs), [f"view {i}" for i in range(len(result.inputs))]),
        Row(f"hypotheses at {args.angle:.0f} deg", list(result.images), [f"k = {k}" for k in range(len(result.images))]),
        heat_row("weight map per input view", list(result.weights), 1.0, [f"view {i}" for i in range(len(result.weights))]),
        heat_row("uncertainty (std over hypotheses)", [result.uncertainty]),
    ]
    write_png(out / "contact_sheet.png", contact_sheet(rows))
    summary = {"angle_deg": args.angle, "seeds": result.seeds, "timings": result.timings,
               "engine": synth.runner.describe(), "views": [str(p) for p in args.views]}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0
