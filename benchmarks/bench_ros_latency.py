"""End-to-end ROS latency of a view request against the bare synthesizer on the same request.

In one process, ``view_buffer`` and ``novel_view`` run with the shipped config (model, steps
and a fixed seed overridden) on the harness's executor over real DDS, built by the same
functions and the same in-process harness (``ros.harness.RosSession``) as ``nvs-fusion demo`` /
``nvs-fusion launch``. A driver node replays the shipped
sample views on ``/camera/image_raw`` until ``novel_view`` holds them, then sends
``--requests`` ``target_angle`` requests one at a time. ROS latency = request published →
``~/image`` received by the driver (key views are already held: what is measured is the
request path, the worker hand-off, the synthesis, the message conversion and DDS delivery).

Right after each ROS request the node's own ``NovelViewSynthesizer`` (the same engine, no
second model) runs ``synthesize`` on the node's key views with the same angle, K, steps,
sampler and seed; its image must equal the one that arrived over ROS, which shows the two
timings measure the same work. One warm-up request of each kind is run first and not counted.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_ros_latency.py --model models/viewfusion_default.pt
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from nvs_fusion_ros.diffusion.sampling_spec import SamplingSpec
from nvs_fusion_ros.model.assets import asset_path
from nvs_fusion_ros.ros.bringup import create_nodes, default_config_path, load_parameters
from nvs_fusion_ros.ros.demo import REPLAY_PERIOD_S, SAMPLE_VIEWS, DemoError, sample_views, wait_until
from nvs_fusion_ros.synthesis.cli import add_engine_arguments

log = logging.getLogger("bench_ros_latency")
SEED = 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_engine_arguments(parser)  # --model, --engine (choices from the engine registry), --device
    parser.add_argument("--steps", type=int, default=10, help="denoising steps per request (default 10)")
    parser.add_argument("--requests", type=int, default=5, help="measured requests (default 5), after one warm-up")
    parser.add_argument("--num-hypotheses", type=int, default=4, help="samples K per request (default 4, the shipped config)")
    parser.add_argument("--input-views", type=int, default=3, help="sample views shown to the camera, from 0 deg (default 3)")
    parser.add_argument("--angle", type=float, default=240.0, help="target azimuth, degrees (default 240: a hidden side)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each stage")
    args = parser.parse_args(argv)
    if min(args.steps, args.requests, args.num_hypotheses, args.input_views) < 1:
        parser.error("--steps, --requests, --num-hypotheses and --input-views must be at least 1")
    return args


def measure(args: argparse.Namespace, model: Path) -> dict:
    """Start the nodes, feed the views, and time ``args.requests`` requests both ways."""
    import rclpy
    from sensor_msgs.msg import Image
    from std_msgs.msg import Float32, Header

    from nvs_fusion_ros.ros.harness import RosSession
    from nvs_fusion_ros.ros.image_conversions import image_to_rgb8, numpy_to_image
    from nvs_fusion_ros.ros.qos import input_qos_profiles, output_qos

    views = sample_views(SAMPLE_VIEWS)[: args.input_views]
    params = load_parameters(default_config_path())
    params["novel_view"].update(model_file_path=str(model), engine=args.engine, device=args.device, steps=args.steps,
                                num_hypotheses=args.num_hypotheses, seed=SEED, rate=0.0)
    with RosSession() as session:
        for node in create_nodes(params, context=session.context):
            session.add(node)
        buffer, novel_view = session.nodes
        driver = session.add(rclpy.create_node("bench_ros_latency", context=session.context))
        session.start()

        arrived: list[tuple[float, Image]] = []
        driver.create_subscription(Image, f"{novel_view.get_fully_qualified_name()}/image",
                                   lambda msg: arrived.append((time.perf_counter(), msg)), output_qos(10))
        camera = driver.create_publisher(Image, "/camera/image_raw",
                                         input_qos_profiles(buffer.get_parameter("input_qos").value, 5)[0])
        angle_topic = driver.create_publisher(Float32, "target_angle", output_qos(10))
        shown = 0
        deadline = time.monotonic() + args.timeout
        while len(novel_view.views) < len(views):  # in-process: read the node's view set directly
            if time.monotonic() > deadline:
                raise DemoError(f"novel_view holds {len(novel_view.views)} of {len(views)} views after {args.timeout:.0f} s")
            header = Header(stamp=driver.get_clock().now().to_msg(), frame_id="camera")
            camera.publish(numpy_to_image(views[shown % len(views)][1], "rgb8", header))
            shown += 1
            time.sleep(REPLAY_PERIOD_S)
        wait_until(lambda: angle_topic.get_subscription_count() > 0 and driver.count_publishers(
            f"{novel_view.get_fully_qualified_name()}/image") > 0, args.timeout, "the target_angle/~/image match")
        key_views = novel_view.views.images()
        angle = math.radians(args.angle)

        ros_s, bare_s, identical = [], [], []
        for i in range(args.requests + 1):  # request 0 warms up both paths
            sent = time.perf_counter()
            angle_topic.publish(Float32(data=angle))
            wait_until(lambda count=i + 1: len(arrived) >= count, args.timeout, f"the answer to request {i}")
            received, msg = arrived[i]
            wait_until(novel_view.worker.idle, args.timeout, "the rest of the node's outputs")  # no overlap with the bare run
            started = time.perf_counter()
            sampling = SamplingSpec(sampler=novel_view.get_parameter("sampler").value, steps=args.steps, seed=SEED)
            result = novel_view.synthesizer.synthesize(key_views, angle, num_hypotheses=args.num_hypotheses,
                                                       sampling=sampling)
            bare = time.perf_counter() - started
            if i:
                ros_s.append(received - sent)
                bare_s.append(bare)
                identical.append(bool(np.array_equal(image_to_rgb8(msg), result.images[0])))
            log.info("request %d: ROS %.3f s, bare %.3f s%s", i, received - sent, bare, " (warm-up)" if not i else "")
        return {"ros_s": ros_s, "bare_s": bare_s, "identical": identical, "engine": novel_view.synthesizer.runner.describe(),
                "image_size": novel_view.synthesizer.image_size, "views": len(key_views), "frames_shown": shown}


def table(record: dict, args: argparse.Namespace, model: Path) -> str:
    ros, bare = record["ros_s"], record["bare_s"]
    ratios = [r / b for r, b in zip(ros, bare, strict=True)]
    same = sum(record["identical"])
    return "\n".join([
        f"model `{model}`, engine {record['engine']}, {record['image_size']}x{record['image_size']}, "
        f"{record['views']} key views, K={args.num_hypotheses}, {args.steps} steps, {len(ros)} requests "
        f"(+1 warm-up); ROS image identical to the bare one in {same}/{len(ros)}",
        "",
        "| path | mean (s) | min (s) |",
        "|---|---:|---:|",
        f"| ROS: `target_angle` published → `~/image` received | {statistics.mean(ros):.3f} | {min(ros):.3f} |",
        f"| bare `NovelViewSynthesizer.synthesize` | {statistics.mean(bare):.3f} | {min(bare):.3f} |",
        f"| overhead ratio ROS / bare (per request) | {statistics.mean(ratios):.3f} | {min(ratios):.3f} |",
        f"| overhead ROS − bare (per request) | {statistics.mean(r - b for r, b in zip(ros, bare, strict=True)):.3f} | "
        f"{min(r - b for r, b in zip(ros, bare, strict=True)):.3f} |",
    ])


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        model = Path(args.model) if args.model else asset_path("view")
        if not model.is_file():
            raise FileNotFoundError(f"no model at {model}")
        record = measure(args, model)
    except (FileNotFoundError, ValueError, DemoError) as exc:
        log.error("%s", exc)
        return 2
    print(table(record, args, model))
    return 0


if __name__ == "__main__":
    sys.exit(main())
