"""Soak test of the bringup: camera frames, requests, resets and reconstructions for ``--duration`` seconds.

``nvs-fusion launch`` runs as its own process (so a crash is a crash, and its memory is its own)
on a private ROS_DOMAIN_ID. A driver in this process (``ros.harness.RosSession``) publishes
``--width`` x ``--height`` rgb8 frames at ``--fps`` on ``/camera/image_raw`` (best effort, like a
camera driver; the shipped sample views letterboxed to the frame, cycling, so key views change),
``target_angle`` requests at ``--request-hz``, ``reset`` every ``--reset-every`` s and
``~/reconstruct`` every ``--reconstruct-every`` s (after each reset the camera refills the view
set). It samples the bringup's RSS (``/proc/<pid>/status``) every ``--sample-every`` s and, at the
end, sends SIGINT and checks a clean exit.

Latency is ``~/image`` arrival minus its header stamp (the node's clock when the request
arrived; same machine, so the same clock): request hand-off, waiting behind a running job,
synthesis and delivery. Requests the latest-wins slot replaced are "dropped" (the node's
counter), those a reset cancelled are "cancelled"; a crash is an exit before the end, a
traceback in the bringup's output, or an unclean exit on SIGINT.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/soak_ros.py --duration 600
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from nvs_fusion_ros.ros.demo import SAMPLE_VIEWS, sample_views
from nvs_fusion_ros.synthesis.preprocess import letterbox


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of traffic (default 600)")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--request-hz", type=float, default=2.0)
    parser.add_argument("--reset-every", type=float, default=30.0)
    parser.add_argument("--reconstruct-every", type=float, default=120.0)
    parser.add_argument("--sample-every", type=float, default=30.0, help="RSS sampling period (s)")
    parser.add_argument("--domain", type=int, default=66, help="ROS_DOMAIN_ID of the run (default 66)")
    parser.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                        help="extra bringup overrides (e.g. novel_view.engine=onnxruntime)")
    args = parser.parse_args(argv)
    if min(args.duration, args.fps, args.request_hz, args.reset_every, args.reconstruct_every, args.sample_every) <= 0:
        parser.error("durations and rates must be positive")
    return args


#: soak defaults for the node: the shipped model and config with fewer steps, and a reconstruction that fits
#: between two resets on a CPU (about 8 s unloaded: 150 orbit-fit iterations on a 24³ grid; the config's 300
#: iterations with mode seeking take over a minute, and a reset cancels a running reconstruction)
SOAK_SETS = ["novel_view.steps=10", "novel_view.num_hypotheses=2", "novel_view.reconstruction_iterations=150",
             "novel_view.reconstruction_mode_seeking=false", "novel_view.reconstruction_grid=24",
             "novel_view.reconstruction_orbit_views=6", "novel_view.reconstruction_points=2000",
             "view_buffer.max_uncropped_size=0"]  # the frames are the sample views letterboxed on white: taken whole


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def camera_frames(width: int, height: int) -> list[np.ndarray]:
    """The sample views letterboxed (white) into the centre of a width x height frame."""
    side = min(width, height)
    frames = []
    for _angle, view in sample_views(SAMPLE_VIEWS):
        frame = np.full((height, width, 3), 255, np.uint8)
        top, left = (height - side) // 2, (width - side) // 2
        frame[top : top + side, left : left + side] = letterbox(view, side)
        frames.append(frame)
    return frames


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


def run(args: argparse.Namespace) -> dict:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image, PointCloud2
    from std_msgs.msg import Empty, Float32, Header
    from std_srvs.srv import Trigger

    from nvs_fusion_ros.ros.harness import RosSession, wait_until
    from nvs_fusion_ros.ros.image_conversions import numpy_to_image
    from nvs_fusion_ros.ros.qos import input_qos, output_qos

    env = {**os.environ, "ROS_DOMAIN_ID": str(args.domain), "PYTHONUNBUFFERED": "1"}
    sets = [arg for item in [*SOAK_SETS, *args.set] for arg in ("--set", item)]
    bringup = subprocess.Popen([sys.executable, "-m", "nvs_fusion_ros.cli", "launch", *sets], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(bringup.stdout), daemon=True)
    reader.start()
    record: dict = {"rss": [], "latency_s": [], "sent": 0, "frames": 0, "resets": 0, "reconstructs_asked": 0,
                    "reconstructs_queued": 0, "points": 0}
    frames = [numpy_to_image(f, "rgb8") for f in camera_frames(args.width, args.height)]
    with RosSession(domain_id=args.domain) as session:
        driver = session.add(rclpy.create_node("soak_driver", context=session.context))
        arrivals: list[float] = []
        diagnostics: list[DiagnosticArray] = []
        driver.create_subscription(Image, "/novel_view/image", lambda msg: arrivals.append(
            time.time() - (msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec)), output_qos(10))
        driver.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, output_qos(10))
        points: list[PointCloud2] = []
        driver.create_subscription(PointCloud2, "/novel_view/points", points.append, output_qos(5))
        camera = driver.create_publisher(Image, "/camera/image_raw", input_qos("sensor_data", 5))
        angle = driver.create_publisher(Float32, "target_angle", output_qos(10))
        reset = driver.create_publisher(Empty, "reset", output_qos(10))
        reconstruct = driver.create_client(Trigger, "/novel_view/reconstruct")
        session.start()
        wait_until(lambda: any("running /view_buffer, /novel_view" in line for line in output) or bringup.poll() is not None,
                   300, "the bringup to start")
        wait_until(lambda: angle.get_subscription_count() > 0 and reset.get_subscription_count() >= 2, 60,
                   "the nodes' subscriptions")

        started = time.monotonic()
        next_frame = next_request = next_sample = started
        # the first reconstruction 5 s in, each then 120 s on: 5 s after a reset when both periods are multiples of 30 s
        next_reset, next_reconstruct = started + args.reset_every, started + 5.0
        futures = []
        while (now := time.monotonic()) - started < args.duration and bringup.poll() is None:
            if now >= next_frame:
                msg = frames[record["frames"] % len(frames)]
                msg.header = Header(stamp=driver.get_clock().now().to_msg(), frame_id="camera")
                camera.publish(msg)
                record["frames"] += 1
                next_frame += 1.0 / args.fps
            if now >= next_request:
                angle.publish(Float32(data=float(record["sent"] % 8) * math.pi / 4))
                record["sent"] += 1
                next_request += 1.0 / args.request_hz
            if now >= next_reset:
                reset.publish(Empty())
                record["resets"] += 1
                next_reset += args.reset_every
            if now >= next_reconstruct:
                futures.append(reconstruct.call_async(Trigger.Request()))
                record["reconstructs_asked"] += 1
                next_reconstruct += args.reconstruct_every
            if now >= next_sample:
                record["rss"].append((now - started, rss_mb(bringup.pid)))
                next_sample += args.sample_every
            time.sleep(max(0.0, min(next_frame, next_request) - time.monotonic()))
        record["elapsed_s"] = time.monotonic() - started
        record["alive_at_end"] = bringup.poll() is None
        if record["alive_at_end"]:
            record["rss"].append((record["elapsed_s"], rss_mb(bringup.pid)))
        wait_until(lambda: all(f.done() for f in futures) or bringup.poll() is not None, 30, "the service answers")
        record["reconstructs_queued"] = sum(1 for f in futures if f.done() and f.result().success)
        record["latency_s"] = list(arrivals)
        record["points"] = len(points)
        synthesis = [a.status[0] for a in diagnostics if a.status and a.status[0].name.endswith(": novel view synthesis")]
        values = {v.key: v.value for v in synthesis[-1].values} if synthesis else {}  # view_buffer publishes there too
        record["node"] = {k: values.get(k, "?") for k in ("engine", "requests_done", "requests_dropped",
                                                          "requests_cancelled", "requests_failed", "resets", "warnings")}
    stopped = time.monotonic()
    if bringup.poll() is None:
        bringup.send_signal(signal.SIGINT)
    try:
        record["exit_code"] = bringup.wait(60)
    except subprocess.TimeoutExpired:
        bringup.kill()
        record["exit_code"] = "killed after 60 s"
    record["shutdown_s"] = time.monotonic() - stopped
    reader.join(10)
    text = "".join(output)
    record["tracebacks"] = text.count("Traceback") + text.count("terminate called")
    record["errors"] = sorted({line.split("]: ", 1)[-1].strip() for line in output if "ERROR" in line})
    record["crashes"] = int(not record["alive_at_end"]) + int(record["exit_code"] != 0) + record["tracebacks"]
    return record


def table(record: dict, args: argparse.Namespace) -> str:
    latency = record["latency_s"]
    node = record["node"]
    rss = record["rss"]
    lines = [
        f"{record['elapsed_s']:.0f} s of {args.width}x{args.height} rgb8 at {args.fps:g} Hz "
        f"({record['frames']} frames), target_angle at {args.request_hz:g} Hz, reset every {args.reset_every:g} s, "
        f"~/reconstruct every {args.reconstruct_every:g} s; engine {node['engine']}; "
        f"bringup overrides {' '.join(SOAK_SETS + args.set)}",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| requests sent / answered (~/image) | {record['sent']} / {len(latency)} |",
        f"| node: done / dropped (latest wins) / cancelled (reset) / failed | {node['requests_done']} / "
        f"{node['requests_dropped']} / {node['requests_cancelled']} / {node['requests_failed']} |",
        f"| latency p50 / p90 / p99 / max (s) | {percentile(latency, 50):.2f} / {percentile(latency, 90):.2f} / "
        f"{percentile(latency, 99):.2f} / {max(latency, default=math.nan):.2f} |",
        f"| resets sent / seen by novel_view | {record['resets']} / {node['resets']} |",
        f"| reconstructions asked / queued / published | {record['reconstructs_asked']} / {record['reconstructs_queued']}"
        f" / {record['points']} |",
        f"| RSS first / max / last (MB) | {rss[0][1]:.0f} / {max(r for _, r in rss):.0f} / {rss[-1][1]:.0f} |"
        if rss else "| RSS | n/a |",
        f"| crashes (early exit, traceback, unclean SIGINT exit) | {record['crashes']} |",
        f"| SIGINT to exit (s), exit code | {record['shutdown_s']:.1f}, {record['exit_code']} |",
        "",
        "RSS over time: " + ", ".join(f"{t:.0f} s: {r:.0f} MB" for t, r in rss),
    ]
    lines += [f"bringup error: {error}" for error in record["errors"]]
    if node.get("warnings"):
        lines.append(f"node warnings: {node['warnings']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    record = run(args)
    print(table(record, args))
    if record["latency_s"]:
        print(f"latency mean {statistics.mean(record['latency_s']):.2f} s over {len(record['latency_s'])} answers")
    return 0 if record["crashes"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
