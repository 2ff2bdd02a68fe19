"""``nvs-fusion demo``: the whole ROS pipeline in one process, on an object the model never saw.

A camera-replay node publishes the first ``--input-views`` shipped sample views (a test-split
object, see ``data/sample_views/README.txt``) on ``/camera/image_raw``; ``view_buffer`` and
``novel_view`` run with the shipped config over real DDS topics on the harness's executor.
The demo then asks for K hypotheses of a side the inputs do not show and for an orbit, and
writes what arrives on the output topics to ``--out``: PNGs, ``contact_sheet.png`` and
``summary.json`` (per-request latency from request to the last output message).
``--rgbd`` runs the RGB-D demo instead (``rgbd_demo``: tabletop frames to ``rgbd_completion``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..diffusion import DEFAULT_STEPS
from ..synthesis.cli import add_engine_arguments
from ..synthesis.contact_sheet import Row, colorize, contact_sheet, heat_row, write_png
from .bringup import default_config_path, load_parameters
from .rgbd_demo import add_rgbd_arguments, run_rgbd

log = logging.getLogger(__name__)

SAMPLE_VIEWS = Path(__file__).resolve().parents[1] / "data" / "sample_views"
REPLAY_PERIOD_S = 0.2
OUTPUTS = ("image", "hypotheses", "weights", "uncertainty")


class DemoError(RuntimeError):
    """An expected output did not arrive in time; the message says which."""


def sample_views(folder: Path) -> list[tuple[float, np.ndarray]]:
    """(azimuth in degrees, RGB image) of each ``view_NN.png`` (NMR view NN of 24), by azimuth."""
    from ..synthesis.tensors import read_rgb  # torch: imported to run, not to print --help

    views = []
    for path in sorted(folder.glob("view_*.png")):
        match = re.fullmatch(r"view_(\d+)\.png", path.name)
        if match:
            views.append((int(match.group(1)) * 15.0, read_rgb(path)))
    if not views:
        raise FileNotFoundError(f"no view_NN.png sample views in {folder}")
    return sorted(views, key=lambda v: v[0])


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    from .harness import wait_until as wait

    wait(condition, timeout, what, DemoError)


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", epilog="examples:\n  nvs-fusion demo\n  nvs-fusion demo --rgbd --out out/rgbd_demo",
        description="The whole ROS pipeline in one process, over real ROS 2 topics: a replayed camera shows the "
                    "shipped sample views of an object the model never saw; view_buffer keeps key views; novel_view "
                    "answers a request for a hidden side and an orbit. Writes the PNGs that arrive, "
                    "contact_sheet.png and summary.json (latencies). --rgbd replays RGB-D frames of a tabletop "
                    "object to rgbd_completion instead.")
    add_engine_arguments(parser)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="denoising steps per view")
    parser.add_argument("--num-hypotheses", type=int, default=None,
                        help="samples K for the hidden side (default: the node's, novel_view 4, rgbd_completion 8)")
    parser.add_argument("--input-views", type=int, default=3,
                        help="how many sample views the camera shows, by azimuth from 0 degrees (3: 0, 60, 120)")
    parser.add_argument("--hidden-angle", type=float, default=240.0, help="azimuth of the hidden side, in degrees")
    parser.add_argument("--orbit", type=int, default=6,
                        help="views in the orbit, evenly spaced from 0 degrees (6: the sample views' azimuths)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each stage")
    parser.add_argument("--views-dir", default=str(SAMPLE_VIEWS), help="folder of view_NN.png sample views")
    parser.add_argument("--config", default=None, help="ROS 2 params file (default: the shipped viewfusion.yaml)")
    parser.add_argument("--out", default="out/demo", help="output folder")
    add_rgbd_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.steps < 1 or (args.num_hypotheses is not None and args.num_hypotheses < 1) or args.orbit < 1 \
            or args.input_views < 1:
        raise ValueError("--steps, --num-hypotheses, --orbit and --input-views must be at least 1")
    if args.rgbd:
        return run_rgbd(args)
    views = sample_views(Path(args.views_dir))
    if args.input_views > len(views):
        raise ValueError(f"--input-views {args.input_views} but {args.views_dir} holds {len(views)} views")
    inputs = views[: args.input_views]
    truth = {round(angle) % 360: image for angle, image in views}
    orbit_angles = [2 * math.pi * i / args.orbit for i in range(args.orbit)]
    params = load_parameters(args.config or default_config_path())
    params["novel_view"].update(model_file_path=args.model or "", engine=args.engine, device=args.device, steps=args.steps,
                                seed=0, rate=0.0, target_angles=orbit_angles)
    if args.num_hypotheses is not None:
        params["novel_view"]["num_hypotheses"] = args.num_hypotheses
    try:
        record = Pipeline(params, args.timeout).run(inputs, math.radians(args.hidden_angle), len(orbit_angles))
    except DemoError as exc:
        log.error("demo failed: %s", exc)
        return 1
    write_outputs(Path(args.out), record, args, truth, orbit_angles)
    return 0


class Pipeline:
    """The nodes, a driver node that plays camera and client, and what arrived on the output topics."""

    def __init__(self, params: dict[str, dict[str, Any]], timeout: float):
        self.params = params
        self.timeout = timeout
        self.received: dict[str, list] = {name: [] for name in (*OUTPUTS, "orbit", "views", "diagnostics")}
        self._lock = threading.Lock()
        self.novel_view_name = ""

    def _keep(self, name: str) -> Callable[[Any], None]:
        def keep(msg: Any) -> None:
            with self._lock:
                self.received[name].append(msg)

        return keep

    def _diagnostic(self, key: str) -> str | None:
        with self._lock:
            for array in reversed(self.received["diagnostics"]):
                for status in array.status:
                    values = {v.key: v.value for v in status.values}
                    if status.name.startswith(self.novel_view_name) and key in values:
                        return values[key]
        return None

    def run(self, inputs: list[tuple[float, np.ndarray]], hidden_angle: float, orbit_size: int) -> dict[str, Any]:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import Image
        from std_msgs.msg import Float32, Header
        from std_srvs.srv import Trigger

        from .bringup import create_nodes
        from .harness import RosSession
        from .image_conversions import numpy_to_image
        from .qos import input_qos_profiles, latched_qos, output_qos

        with RosSession() as session:
            for node in create_nodes(self.params, context=session.context):
                session.add(node)
            buffer_params, novel_view = session.nodes
            self.novel_view_name = novel_view.get_fully_qualified_name()
            driver = session.add(rclpy.create_node("demo", context=session.context))
            session.start()

            camera_qos = input_qos_profiles(buffer_params.get_parameter("input_qos").value, 5)[0]  # reliable for auto
            camera = driver.create_publisher(Image, "/camera/image_raw", camera_qos)
            angle = driver.create_publisher(Float32, "target_angle", output_qos(10))
            orbit_client = driver.create_client(Trigger, f"{self.novel_view_name}/synthesize_orbit")
            for name in (*OUTPUTS, "orbit"):
                driver.create_subscription(Image, f"{self.novel_view_name}/{name}", self._keep(name), output_qos(50))
            driver.create_subscription(Image, "views", self._keep("views"),
                                       latched_qos(buffer_params.get_parameter("max_views").value))
            driver.create_subscription(DiagnosticArray, "/diagnostics", self._keep("diagnostics"), output_qos(10))

            # 1. the camera shows the input views until novel_view reports holding all of them
            log.info("replaying %d views on /camera/image_raw", len(inputs))
            started = time.monotonic()
            deadline = started + self.timeout
            shown = 0
            while self._diagnostic("views_held") != str(len(inputs)):
                if time.monotonic() > deadline:
                    raise DemoError(f"novel_view did not report {len(inputs)} key views (views_held="
                                    f"{self._diagnostic('views_held')}) within {self.timeout:.0f} s")
                header = Header(stamp=driver.get_clock().now().to_msg(), frame_id="camera")
                camera.publish(numpy_to_image(inputs[shown % len(inputs)][1], "rgb8", header))
                shown += 1
                time.sleep(REPLAY_PERIOD_S)
            key_view_s = time.monotonic() - started
            log.info("novel_view holds %d key views after %.1f s", len(inputs), key_view_s)

            # 2. K hypotheses for the hidden side
            wait_until(lambda: angle.get_subscription_count() > 0, self.timeout, "novel_view's target_angle subscription")
            sent = time.monotonic()
            angle.publish(Float32(data=hidden_angle))
            wait_until(lambda: all(self.received[n] for n in OUTPUTS), self.timeout,
                       f"an answer on {', '.join(f'{self.novel_view_name}/{n}' for n in OUTPUTS)}")
            hypotheses_s = time.monotonic() - sent
            log.info("hypotheses arrived after %.2f s", hypotheses_s)

            # 3. an orbit through the service
            if not orbit_client.wait_for_service(timeout_sec=self.timeout):
                raise DemoError(f"the service {self.novel_view_name}/synthesize_orbit")
            sent = time.monotonic()
            future = orbit_client.call_async(Trigger.Request())
            wait_until(future.done, self.timeout, "the answer of synthesize_orbit")
            if not future.result().success:
                raise DemoError(f"synthesize_orbit refused: {future.result().message}")
            wait_until(lambda: len(self.received["orbit"]) >= orbit_size, self.timeout,
                       f"{orbit_size} views on {self.novel_view_name}/orbit")
            orbit_s = time.monotonic() - sent
            log.info("orbit of %d views arrived after %.2f s", orbit_size, orbit_s)
            return {
                "key_views_s": key_view_s, "hypotheses_s": hypotheses_s, "orbit_s": orbit_s,
                "camera_frames_sent": shown, "engine": self._diagnostic("engine"), "model": self._diagnostic("model"),
                "service_message": future.result().message, "received": self.received,
                "num_hypotheses": novel_view.get_parameter("num_hypotheses").value,
            }


def write_outputs(out: Path, record: dict[str, Any], args: argparse.Namespace, truth: dict[int, np.ndarray],
                  orbit_angles: list[float]) -> None:
    """PNGs of every output, a contact sheet and summary.json; messages are read back with the node's own layout.

    ``truth`` maps whole-degree azimuths to the shipped views, shown beside the outputs at those angles.
    """
    from .image_conversions import image_to_numpy, image_to_rgb8, is_reset_marker
    from .novel_view_jobs import untile

    received = record.pop("received")
    received["views"] = [m for m in received["views"] if not is_reset_marker(m)]
    key_views = [image_to_rgb8(m) for m in received["views"]]
    key_views = list({m.header.stamp.sec * 10**9 + m.header.stamp.nanosec: v for m, v in zip(received["views"], key_views,
                                                                                             strict=True)}.values())
    hypotheses = untile(image_to_rgb8(received["hypotheses"][0]))
    weights = untile(image_to_numpy(received["weights"][0]))
    uncertainty = image_to_numpy(received["uncertainty"][0])
    orbit = [image_to_rgb8(m) for m in received["orbit"][: len(orbit_angles)]]
    files = []
    for i, view in enumerate(key_views):
        files.append(write_png(out / f"key_view_{i}.png", view))
    for k, image in enumerate(hypotheses):
        files.append(write_png(out / f"hypothesis_{k}.png", image))
    for i, weight in enumerate(weights):
        files.append(write_png(out / f"weight_view_{i}.png", colorize(weight, 1.0)))
    files.append(write_png(out / "uncertainty.png", colorize(uncertainty)))
    for angle, image in zip(orbit_angles, orbit, strict=True):
        files.append(write_png(out / f"orbit_{round(math.degrees(angle)):03d}deg.png", image))
    hidden_truth = truth.get(round(args.hidden_angle) % 360)
    orbit_degrees = [round(math.degrees(a)) % 360 for a in orbit_angles]
    input_degrees = sorted(truth)[: args.input_views]  # the camera showed these, in this order
    view_captions = [f"{d} deg" for d in input_degrees] if len(input_degrees) == len(key_views) else \
        [f"view {i}" for i in range(len(key_views))]
    rows = [
        Row("key views (as published on views), by azimuth", key_views, view_captions),
        Row(f"hypotheses at the hidden side, {args.hidden_angle:.0f} deg",
            hypotheses + ([hidden_truth] if hidden_truth is not None else []),
            [f"k = {k}" for k in range(len(hypotheses))] + (["true view"] if hidden_truth is not None else [])),
        heat_row("weight map per key view at the hidden side", weights, 1.0, view_captions),
        heat_row("uncertainty (std over hypotheses)", [uncertainty]),
        Row("orbit", orbit, [f"{d} deg" for d in orbit_degrees]),
    ]
    if all(d in truth for d in orbit_degrees):
        rows.append(Row("true views at the orbit angles (only the key views were given to the model)",
                        [truth[d] for d in orbit_degrees], [f"{d} deg" for d in orbit_degrees]))
    files.append(write_png(out / "contact_sheet.png", contact_sheet(rows)))
    summary = {
        "model": record["model"], "engine": record["engine"], "steps": args.steps, "num_hypotheses": record["num_hypotheses"],
        "input_views": args.input_views, "key_views_received": len(key_views),
        "requests": [
            {"kind": "target_angle", "angle_deg": args.hidden_angle, "latency_s": round(record["hypotheses_s"], 3),
             "stamp": stamp_of(received["image"][0])},
            {"kind": "synthesize_orbit", "angles_deg": [round(math.degrees(a), 2) for a in orbit_angles],
             "latency_s": round(record["orbit_s"], 3), "stamp": stamp_of(received["orbit"][0]),
             "service_message": record["service_message"]},
        ],
        "key_views_s": round(record["key_views_s"], 3),
        "camera_frames_sent": record["camera_frames_sent"],
        "files": sorted(str(f.relative_to(out)) for f in files),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


def stamp_of(msg: Any) -> str:
    return f"{msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d}"
