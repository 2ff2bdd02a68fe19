"""How long ``nvs-fusion --help`` and each ``nvs-fusion COMMAND --help`` take, each in a fresh interpreter.

Help must print in well under a second: nothing heavy (torch, ROS, Open3D) may load for it. Prints, per
command, the median wall time of a few runs and its ratio to a bare ``python -c pass`` start, so the
figures compare across machines:

    .venv/bin/python benchmarks/bench_cli_help.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from nvs_fusion_ros import cli
from nvs_fusion_ros.engines.cpu import cpu_isa, cpu_model


def wall_time(args: list[str], repeats: int) -> float:
    """Median seconds of ``python args`` in a fresh process, output discarded."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per command; the median is reported")
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}; instruction sets: {', '.join(cpu_isa()) or 'none listed'}; python {sys.version.split()[0]}")
    bare = wall_time(["-c", "pass"], args.repeats)
    print(f"\nbare interpreter start: {bare:.3f} s\n")
    print("| command | s (median) | vs bare start |\n|---|---:|---:|")
    for name in [None, *(c.name for c in cli.COMMANDS)]:
        seconds = wall_time(["-m", "nvs_fusion_ros.cli", *([name] if name else []), "--help"], args.repeats)
        print(f"| `nvs-fusion {name + ' ' if name else ''}--help` | {seconds:.3f} | {seconds / bare:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
