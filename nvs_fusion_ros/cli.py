"""The ``nvs-fusion`` command: one entry point, one subcommand per task.

Each subcommand lives next to the code it drives and registers itself through
an ``add_cli(subparsers)`` function; heavy imports happen only when that
module is loaded, so ``nvs-fusion --help`` stays fast. A module whose dependencies
are missing (kornia, ROS) loses its subcommands with a one-line notice, and the
others still run: the trainer needs only torch, OpenCV, PyYAML and tqdm.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

SUBCOMMAND_MODULES = (
    "nvs_fusion_ros.engines.build_cli",
    "nvs_fusion_ros.ros.bringup",
    "nvs_fusion_ros.ros.demo",
    "nvs_fusion_ros.reconstruction.cli",
    "nvs_fusion_ros.synthesis.cli",
    "nvs_fusion_ros.synthesis.video_cli",
    "nvs_fusion_ros.training.render_dataset",
    "nvs_fusion_ros.training.packed_dataset",
    "nvs_fusion_ros.training.train",
    "nvs_fusion_ros.training.train_temporal",
    "nvs_fusion_ros.training.evaluate",
    "nvs_fusion_ros.training.evaluate_video",
    "nvs_fusion_ros.training.export_cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nvs-fusion", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True)
    missing = []
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a missing dependency disables that module's subcommands only
            if (exc.name or "").split(".")[0] == __package__:
                raise  # our own module: a bug, not a missing dependency
            missing.append(f"{'.'.join(name.split('.')[-2:])} ({exc})")
            continue
        module.add_cli(subparsers)
    if missing:  # e.g. a GPU box with torch but without kornia or ROS: training still runs
        print(f"nvs-fusion: some subcommands are not available here: {'; '.join(missing)}", file=sys.stderr)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as exc:
        logging.getLogger("nvs-fusion").error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
