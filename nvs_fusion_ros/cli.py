"""The ``nvs-fusion`` command: one entry point, one subcommand per task.

Each subcommand's options live next to the code it drives, in a module that registers them through
an ``add_cli(subparsers)`` function and imports torch, ROS and the other heavy libraries only inside
the function that runs the job. This module lists the subcommands itself (``COMMANDS``) and imports
only the module of the one asked for, so ``nvs-fusion --help`` and ``nvs-fusion COMMAND --help``
print in a fraction of a second. A module whose dependency is missing (kornia, ROS) makes only its
own subcommand fail, with a message naming what is missing.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import sys
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from . import __version__

MAIN = "main jobs"
MODELS = "models and engines"
TRAINING = "training and evaluation"


@dataclass(frozen=True)
class Command:
    name: str
    module: str  # defines add_cli(subparsers), which registers this command (a module may register several)
    summary: str
    group: str


COMMANDS: tuple[Command, ...] = (
    Command("demo", "nvs_fusion_ros.ros.demo",
            "run the ROS nodes on the shipped sample views and save what they publish (out/demo/)", MAIN),
    Command("launch", "nvs_fusion_ros.ros.bringup",
            "start the nodes on your camera topics, in one process (no ros2 launch needed)", MAIN),
    Command("synthesize", "nvs_fusion_ros.synthesis.cli",
            "novel views and occlusion hypotheses of an object from pose-free images", MAIN),
    Command("reconstruct", "nvs_fusion_ros.reconstruction.cli",
            "distill synthesized views into a point cloud and a mesh", MAIN),
    Command("synthesize-video", "nvs_fusion_ros.synthesis.video_cli",
            "a moving object from several azimuths at every frame of a clip", MAIN),
    Command("export-onnx", "nvs_fusion_ros.engines.export_cli",
            "export a checkpoint to ONNX (verified against torch) with a model card", MODELS),
    Command("build-engine", "nvs_fusion_ros.engines.build_cli",
            "build the TensorRT plan of a checkpoint (needs an NVIDIA GPU)", MODELS),
    Command("render-dataset", "nvs_fusion_ros.datasets.render_dataset",
            "render a training dataset (24 views per object) with pybullet", TRAINING),
    Command("pack-dataset", "nvs_fusion_ros.datasets.packed_dataset",
            "pack a rendered dataset into one small file to copy to a GPU machine", TRAINING),
    Command("unpack-dataset", "nvs_fusion_ros.datasets.packed_dataset",
            "write a pack back as a dataset folder", TRAINING),
    Command("train", "nvs_fusion_ros.training.train_cli",
            "train the view model", TRAINING),
    Command("train-temporal", "nvs_fusion_ros.training.train_cli",
            "train the temporal model for moving objects", TRAINING),
    Command("evaluate", "nvs_fusion_ros.evaluation.evaluate_cli",
            "PSNR / SSIM / LPIPS of a model against baselines, with the paper's protocols", TRAINING),
    Command("evaluate-video", "nvs_fusion_ros.evaluation.evaluate_video",
            "score the moving-object composition against per-frame synthesis", TRAINING),
)

EXAMPLES = """\
examples:
  nvs-fusion demo                         # the ROS pipeline on sample views; pictures in out/demo/
  nvs-fusion demo --rgbd                  # RGB-D completion of a tabletop object; out/demo/
  nvs-fusion launch --rgbd                # the nodes on a RealSense-style RGB-D camera
  nvs-fusion synthesize a.png b.png --angle 180 --num-hypotheses 4
  nvs-fusion reconstruct a.png b.png c.png --out out/mug
  nvs-fusion COMMAND --help               # a command's options and their defaults
"""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Wraps prose paragraphs, keeps indented blocks (listings, examples) as written, shows each option's default."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        def fill(paragraph: str) -> str:
            if "\n " in paragraph or paragraph.startswith(" "):
                return paragraph
            return textwrap.fill(" ".join(paragraph.split()), width, initial_indent=indent, subsequent_indent=indent)

        return "\n\n".join(fill(p) for p in text.split("\n\n"))

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        nothing = default is None or default is False or default == "" or default == argparse.SUPPRESS  # 0 is a value
        if "default" in text or nothing or (not action.option_strings and action.nargs not in ("?", "*")):
            return text
        return f"{text} (default: %(default)s)"


def _listing() -> str:
    width = max(len(c.name) for c in COMMANDS) + 2
    lines = []
    for group in (MAIN, MODELS, TRAINING):
        lines.append(f"{group}:")
        lines += [f"  {c.name:<{width}}{c.summary}" for c in COMMANDS if c.group == group]
        lines.append("")
    return "\n".join(lines)


def build_parser(load: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; the options of the commands in ``load`` (all when None) are read from their modules.

    Commands not loaded are listed by name only, so printing the overview imports nothing heavy.
    """
    wanted = {c.module for c in COMMANDS if load is None or c.name in load}
    parser = argparse.ArgumentParser(
        prog="nvs-fusion", usage="%(prog)s [-h] [--version] [-v] COMMAND [options]", formatter_class=HelpFormatter,
        epilog=EXAMPLES,
        description="Pose-free novel views, occlusion hypotheses, 3D reconstruction and metric RGB-D completion "
                    "of objects, for ROS 2.\n\n" + _listing())
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help=argparse.SUPPRESS,
                                       prog="nvs-fusion",
                                       parser_class=functools.partial(argparse.ArgumentParser, formatter_class=HelpFormatter))
    loaded: set[str] = set()
    for command in COMMANDS:
        if command.name in subparsers.choices:
            continue  # registered by an earlier command's module
        if command.module in wanted and command.module not in loaded:
            _load(command).add_cli(subparsers)
            loaded.add(command.module)
        else:
            subparsers.add_parser(command.name)  # listed only: its module is imported when it is chosen
    return parser


def _load(command: Command):
    try:
        return importlib.import_module(command.module)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] == __package__:
            raise  # our own module: a bug, not a missing dependency
        raise SystemExit(f"nvs-fusion {command.name} needs {exc.name}, which is not installed here: {exc}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)  # the global options take no values
    args = build_parser([chosen] if chosen else []).parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except ModuleNotFoundError as exc:  # a dependency of this job only, imported when it runs
        logging.getLogger("nvs-fusion").error("nvs-fusion %s needs %s, which is not installed here", args.command, exc.name)
        return 2
    except (ValueError, OSError) as exc:
        logging.getLogger("nvs-fusion").error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
