"""An RGB-D camera driver in its own process, and how many of its frames reach ``view_buffer`` and ``rgbd_completion``.

``publish`` is the stand-in driver: it renders one tabletop scene at ``--width`` x ``--height`` (``datasets.tabletop``, a box
on a table; fx scaled from a D435's 615 px at 640 wide) and publishes it as a RealSense driver does: rgb8 colour,
16UC1 depth aligned to it and CameraInfo, each frame stamped with the driver's clock, at ``--fps`` for ``--seconds``,
with ``--reliability`` reliable (realsense-ros' default QoS, history depth ``--qos-depth`` 1) or best_effort (the
sensor-data profile). It starts publishing once every topic has a subscriber, and prints one JSON line
(``published``) at the end.

Without a subcommand it is the benchmark: ``view_buffer`` and ``rgbd_completion`` run in this process with the shipped
config's parameters (``input_qos: auto``), this process loads the shipped Fast DDS profile as ``nvs-fusion launch``
does, and for each case a ``publish`` process (with or without the profile in its environment) streams to them.
Reported per case: frames published, colour images ``view_buffer`` received (``images_received``), frames
``rgbd_completion`` paired (``paired``), each as a share of those published. The CPU model is printed beside them.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/camera_stream.py --seconds 20
    .venv/bin/python benchmarks/camera_stream.py publish --width 640 --height 480 --reliability best_effort
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRAME_ID = "camera_color_optical_frame"
TOPICS = {"colour": "/camera/color/image_raw", "depth": "/camera/aligned_depth_to_color/image_raw",
          "info": "/camera/color/camera_info"}
#: (width, height, publisher reliability, publisher history depth, the shipped profile in the publisher's environment)
CASES = [(640, 480, "reliable", 1, True), (640, 480, "best_effort", 5, True),
         (640, 480, "reliable", 1, False), (640, 480, "best_effort", 5, False),
         (1280, 720, "reliable", 1, True), (1280, 720, "best_effort", 5, True),
         (1280, 720, "reliable", 1, False), (1280, 720, "best_effort", 5, False)]


def publish(args: argparse.Namespace) -> None:
    import math

    import numpy as np
    import rclpy
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image

    from nvs_fusion_ros.datasets import tabletop
    from nvs_fusion_ros.rgbd.depth import Intrinsics
    from nvs_fusion_ros.ros.image_conversions import numpy_to_image

    focal = 615.0 * args.width / 640
    intrinsics = Intrinsics(fx=focal, fy=focal, cx=(args.width - 1) / 2, cy=(args.height - 1) / 2, width=args.width,
                            height=args.height)
    box = (0.08, 0.06, 0.12)
    vertices, faces = tabletop.box_mesh(box)
    obj = tabletop.TabletopObject(vertices, faces, 0.5 * math.hypot(*box), math.radians(30))
    frame = tabletop.render(obj, tabletop.TabletopCamera(0.7, math.radians(40), intrinsics=intrinsics), surface_count=10)
    colour = numpy_to_image(frame.colour, "rgb8")
    depth = numpy_to_image(np.nan_to_num(frame.depth * 1000.0).round().astype(np.uint16), "16UC1")
    info = CameraInfo(width=args.width, height=args.height, k=intrinsics.matrix().reshape(-1).tolist())

    rclpy.init()
    node = rclpy.create_node("camera_stand_in")
    reliability = ReliabilityPolicy.RELIABLE if args.reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    qos = QoSProfile(depth=args.qos_depth, history=HistoryPolicy.KEEP_LAST, reliability=reliability)
    publishers = {name: node.create_publisher(CameraInfo if name == "info" else Image, topic, qos)
                  for name, topic in TOPICS.items()}
    deadline = time.monotonic() + args.wait
    while min(p.get_subscription_count() for p in publishers.values()) < 1:
        if time.monotonic() > deadline:
            raise SystemExit(f"no subscriber on every camera topic within {args.wait:.0f} s")
        time.sleep(0.05)
    time.sleep(1.0)  # the matches of the other participants' readers settle too
    count = round(args.seconds * args.fps)
    started = time.monotonic()
    for i in range(count):
        stamp = node.get_clock().now().to_msg()
        for msg in (colour, depth, info):
            msg.header.stamp, msg.header.frame_id = stamp, FRAME_ID
        publishers["colour"].publish(colour)
        publishers["depth"].publish(depth)
        publishers["info"].publish(info)
        time.sleep(max(0.0, started + (i + 1) / args.fps - time.monotonic()))
    print(json.dumps({"published": count, "seconds": round(time.monotonic() - started, 2)}), flush=True)
    time.sleep(1.0)  # reliable writers finish repairs before the participant goes
    node.destroy_node()
    rclpy.shutdown()


def publisher_command(width: int, height: int, reliability: str, qos_depth: int, seconds: float, fps: float) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "publish", "--width", str(width), "--height", str(height),
            "--reliability", reliability, "--qos-depth", str(qos_depth), "--seconds", str(seconds), "--fps", str(fps)]


def publisher_environment(profile: bool, domain_id: int) -> dict[str, str]:
    """The driver's environment: this one's without any DDS profile, plus the shipped one when ``profile``."""
    from nvs_fusion_ros.ros.bringup import DDS_PROFILE_NAME, PROFILE_VARIABLES, dds_environment, default_config_path

    env = {k: v for k, v in os.environ.items() if k not in PROFILE_VARIABLES}
    env.update(ROS_DOMAIN_ID=str(domain_id), PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]))
    if profile:
        env.update(dds_environment(env, default_config_path(DDS_PROFILE_NAME)))
    return env


def stream_to(buffer: object, completion: object, command: list[str], env: dict[str, str], timeout: float) -> dict:
    """Run one publisher process against the running nodes; published, received and paired counts."""
    from nvs_fusion_ros.ros.harness import wait_until

    received, paired = buffer.images_received, completion.paired
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the publisher failed: {done.stderr[-2000:]}")
    published = json.loads(done.stdout.strip().splitlines()[-1])["published"]
    try:  # the last frames may still be on their way: wait until every one arrived, or for 5 s
        wait_until(lambda: buffer.images_received - received >= published and completion.paired - paired >= published,
                   5.0, "the last frames")
    except TimeoutError:
        pass
    return {"published": published, "view_buffer": buffer.images_received - received,
            "rgbd_completion": completion.paired - paired}


def benchmark(args: argparse.Namespace) -> None:
    from nvs_fusion_ros.ros.bringup import (
        DDS_PROFILE_NAME,
        PROFILE_VARIABLES,
        dds_environment,
        default_config_path,
        load_parameters,
    )

    os.environ.update(dds_environment(os.environ, default_config_path(DDS_PROFILE_NAME)))  # as nvs-fusion launch does
    os.environ["ROS_DOMAIN_ID"] = str(args.domain)
    from nvs_fusion_ros.engines.cpu import cpu_isa, cpu_model
    from nvs_fusion_ros.ros.harness import RosSession
    from nvs_fusion_ros.ros.parameters import overrides
    from nvs_fusion_ros.ros.rgbd_node import PARAMETERS as RGBD_PARAMETERS
    from nvs_fusion_ros.ros.rgbd_node import RgbdCompletionNode
    from nvs_fusion_ros.ros.view_buffer_node import PARAMETERS as BUFFER_PARAMETERS
    from nvs_fusion_ros.ros.view_buffer_node import ViewBufferNode

    params = load_parameters(default_config_path(), rgbd=True)
    params["view_buffer"].update(max_uncropped_size=0)  # counted on arrival either way; no refusal warnings
    if args.mask_period is not None:
        params["rgbd_completion"]["mask_period"] = args.mask_period
    for name in ("view_buffer", "rgbd_completion"):
        params[name].update(**({"input_qos": args.input_qos} if args.input_qos else {}))
    params["rgbd_completion"].update(engine="torch", device="cpu", **({"model_file_path": args.model} if args.model else {}))
    print(f"CPU: {cpu_model()}; instruction sets: {', '.join(cpu_isa())}; {os.cpu_count()} cores")
    print(f"nodes: shipped config (input_qos {params['view_buffer']['input_qos']}, mask_period "
          f"{params['rgbd_completion']['mask_period']} s), Fast DDS profile "
          f"{[os.environ[v] for v in PROFILE_VARIABLES if os.environ.get(v)]}")
    results = []
    with RosSession(domain_id=args.domain) as session:
        buffer = session.add(ViewBufferNode(context=session.context,
                                            parameter_overrides=overrides(BUFFER_PARAMETERS, params["view_buffer"])))
        completion = session.add(RgbdCompletionNode(
            context=session.context, parameter_overrides=overrides(RGBD_PARAMETERS, params["rgbd_completion"])))
        session.start()
        chosen = [CASES[int(i)] for i in args.cases.split(",")] if args.cases else CASES
        for width, height, reliability, depth, profile in chosen:
            if width > args.max_width:
                continue
            command = publisher_command(width, height, reliability, depth, args.seconds, args.fps)
            counts = stream_to(buffer, completion, command, publisher_environment(profile, args.domain),
                               args.seconds + 120)
            row = {"size": f"{width}x{height}", "publisher": f"{reliability} depth {depth}",
                   "publisher_profile": profile, **counts}
            results.append(row)
            print(f"{row['size']:>9} {row['publisher']:<20} driver profile {'yes' if profile else 'no ':<3}: "
                  f"published {counts['published']}, view_buffer received {counts['view_buffer']} "
                  f"({counts['view_buffer'] / counts['published']:.1%}), rgbd_completion paired "
                  f"{counts['rgbd_completion']} ({counts['rgbd_completion'] / counts['published']:.1%})", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": cpu_model(), "fps": args.fps, "seconds": args.seconds,
                                               "results": results}, indent=2))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--fps", type=float, default=30.0)
    sub = parser.add_subparsers(dest="command")
    pub = sub.add_parser("publish", help="be the camera driver")
    pub.add_argument("--width", type=int, default=640)
    pub.add_argument("--height", type=int, default=480)
    pub.add_argument("--reliability", choices=("reliable", "best_effort"), default="reliable")
    pub.add_argument("--qos-depth", type=int, default=1)
    pub.add_argument("--seconds", type=float, default=20.0)
    pub.add_argument("--fps", type=float, default=30.0)
    pub.add_argument("--wait", type=float, default=60.0, help="most seconds to wait for subscribers")
    parser.add_argument("--domain", type=int, default=67, help="ROS_DOMAIN_ID of the run (default 67)")
    parser.add_argument("--model", default=None, help="rgbd_completion's checkpoint (default: the shipped one)")
    parser.add_argument("--max-width", type=int, default=1280, help="skip larger cases")
    parser.add_argument("--mask-period", type=float, default=None, help="rgbd_completion's mask_period (default: the config's)")
    parser.add_argument("--input-qos", default=None, help="the nodes' input_qos (default: the shipped config's)")
    parser.add_argument("--cases", default=None, help="comma-separated indices into CASES (default: all)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    publish(args) if args.command == "publish" else benchmark(args)


if __name__ == "__main__":
    main()
