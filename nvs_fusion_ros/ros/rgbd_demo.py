"""``nvs-fusion demo --rgbd``: rendered RGB-D frames of a tabletop object replayed over real ROS 2 topics to
the ``rgbd_completion`` node; ``~/complete`` is called and what arrives is written out.

``ros/demo.py`` adds these arguments to ``nvs-fusion demo`` and hands ``--rgbd`` runs to ``run_rgbd``;
ROS, Open3D and OpenCV are imported only there, so the CLI stays quick to start. The demo's ``--model``,
``--engine``, ``--steps``, ``--num-hypotheses`` (the node's K when not given), ``--timeout`` and ``--out``
apply.

Writes ``cloud.ply`` (x y z, colour, confidence), ``mesh.ply`` (the TRIANGLE_LIST marker's mesh),
``rgbd_completion.png`` (visible | completed by confidence | true surface), ``colour.png`` and
``summary.json`` (timings, counts, frame, stamp, the cloud's scores against the true surface).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # rclpy, Open3D and OpenCV load in run_rgbd: `nvs-fusion --help` must not pay for them
    from ..datasets.tabletop import TabletopObject

log = logging.getLogger(__name__)
FRAME_ID = "camera_color_optical_frame"
BOX = (0.08, 0.06, 0.12)  # the default object: a 8 x 6 x 12 cm box


def add_rgbd_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rgbd", action="store_true",
                        help="replay rendered RGB-D frames of a tabletop object to the rgbd_completion node instead")
    parser.add_argument("--rgbd-object", default=None,
                        help="mesh_normalized.npz (or an NMR object folder holding one) to stand on the table; "
                             "default: an 8x6x12 cm box")
    parser.add_argument("--rgbd-azimuths", type=int, default=8, help="orbit azimuths of the completion")


def load_object(path: str | None) -> TabletopObject:
    from ..datasets import tabletop

    if path is None:
        vertices, faces = tabletop.box_mesh(BOX)
        return tabletop.TabletopObject(vertices, faces, 0.5 * math.hypot(*BOX), math.radians(30))
    file = Path(path) / "mesh_normalized.npz" if Path(path).is_dir() else Path(path)
    mesh = np.load(file)
    return tabletop.TabletopObject(mesh["vertices"], mesh["faces"], 0.08, math.radians(30))


def run_rgbd(args: argparse.Namespace) -> int:
    import cv2
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2
    from shape_msgs.msg import Mesh
    from std_msgs.msg import Header
    from std_srvs.srv import Trigger
    from visualization_msgs.msg import Marker

    from ..datasets import tabletop
    from ..evaluation import geometry_metrics as metrics
    from ..rgbd import segmentation
    from ..rgbd.depth import decode_depth
    from ..rgbd.figure import completion_figure, write_ply
    from .harness import RosSession, wait_until
    from .image_conversions import numpy_to_image
    from .qos import output_qos
    from .rgbd_messages import read_collision_mesh, read_confidence_cloud

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frame = tabletop.render(load_object(args.rgbd_object), tabletop.TabletopCamera(0.7, math.radians(40)))
    frames = [frame] * 3  # a still camera: the same view three times, 100 ms apart
    overrides = [Parameter("model_file_path", value=args.model or ""), Parameter("engine", value=args.engine),
                 Parameter("device", value=args.device),
                 Parameter("azimuths", value=args.rgbd_azimuths),
                 Parameter("steps", value=args.steps), Parameter("input_qos", value="reliable"),
                 Parameter("mask_period", value=0.0)]
    if args.num_hypotheses is not None:  # else the node's default K, which its min_confidence default is set for
        overrides.append(Parameter("num_hypotheses", value=args.num_hypotheses))
    from .rgbd_node import RgbdCompletionNode  # loads the model: after the arguments are known to be good

    started = time.perf_counter()
    with RosSession() as session:
        node = session.add(RgbdCompletionNode(context=session.context, parameter_overrides=overrides))
        driver = session.add(Node("rgbd_demo_driver", context=session.context))
        received: dict[str, object] = {}
        lock = threading.Lock()

        def keep(name: str):
            def store(msg: object) -> None:
                with lock:
                    received.setdefault(name, msg)
                    received.setdefault(f"{name}_at", time.perf_counter())
            return store

        for name, kind in (("object_cloud", PointCloud2), ("object_mesh", Marker), ("collision_mesh", Mesh)):
            driver.create_subscription(kind, f"/{node.get_name()}/{name}", keep(name), output_qos(2))
        pubs = {topic: driver.create_publisher(kind, topic, output_qos(5)) for topic, kind in (
            ("/camera/color/image_raw", Image), ("/camera/aligned_depth_to_color/image_raw", Image),
            ("/camera/color/camera_info", CameraInfo))}
        client = driver.create_client(Trigger, f"/{node.get_name()}/complete")
        session.start()
        loaded = time.perf_counter()
        wait_until(lambda: all(p.get_subscription_count() for p in pubs.values()) and client.service_is_ready(),
                   args.timeout, "the rgbd_completion node")
        for i, shot in enumerate(frames):
            header = Header(frame_id=FRAME_ID)
            header.stamp.sec, header.stamp.nanosec = 1, i * 100_000_000
            depth_mm = np.nan_to_num(shot.depth * 1000.0).round().astype(np.uint16)
            pubs["/camera/color/image_raw"].publish(numpy_to_image(shot.colour, "rgb8", header))
            pubs["/camera/aligned_depth_to_color/image_raw"].publish(numpy_to_image(depth_mm, "16UC1", header))
            k = shot.intrinsics.matrix().reshape(-1).tolist()
            pubs["/camera/color/camera_info"].publish(CameraInfo(header=header, width=shot.intrinsics.width,
                                                                 height=shot.intrinsics.height, k=k))
            time.sleep(0.1)
        wait_until(lambda: node.paired == len(frames), args.timeout, "all frames paired")
        asked = time.perf_counter()
        future = client.call_async(Trigger.Request())
        wait_until(future.done, args.timeout, "the ~/complete answer")
        answer = future.result()
        answered = time.perf_counter()
        if not answer.success:
            log.error("~/complete refused: %s", answer.message)
            return 1
        wait_until(lambda: all(n in received for n in ("object_cloud", "object_mesh", "collision_mesh")), args.timeout,
                   "the cloud and meshes")
    points, colors, confidence = read_confidence_cloud(received["object_cloud"])  # type: ignore[arg-type]
    vertices, faces = read_collision_mesh(received["collision_mesh"])  # type: ignore[arg-type]
    # segment the depth as the node received it (16UC1, whole mm), so the visible/completed split matches its cloud
    visible = segmentation.segment_object(frame.colour, decode_depth(depth_mm, "16UC1"), frame.intrinsics).points
    write_ply(out / "cloud.ply", points, colors, confidence)
    write_ply(out / "mesh.ply", vertices, np.full((len(vertices), 3), 200, np.uint8), faces=faces)
    cv2.imwrite(str(out / "colour.png"), frame.colour[..., ::-1])
    completion_figure(visible, points[len(visible):], confidence[len(visible):], frame.surface_points,
                      out / "rgbd_completion.png",
                      f"nvs-fusion demo --rgbd ({node.synthesizer.checkpoint.path})")
    cloud = received["object_cloud"]
    summary = {
        "model": str(node.synthesizer.checkpoint.path), "frame_id": cloud.header.frame_id,  # type: ignore[attr-defined]
        "stamp": f"{cloud.header.stamp.sec}.{cloud.header.stamp.nanosec:09d}",  # type: ignore[attr-defined]
        "answer": answer.message, "num_hypotheses": node.options.num_hypotheses, "min_confidence": node.min_confidence,
        "points": len(points), "visible_points": len(visible),
        "completed_points": len(points) - len(visible), "mesh_triangles": len(faces),
        "timings_s": {"start_and_load_model": loaded - started, "complete_answer": answered - asked,
                      "cloud_after_request": received["object_cloud_at"] - asked},  # type: ignore[operator]
        "scores": {"visible": metrics.cloud_scores(visible, frame.surface_points),
                   "published_cloud": metrics.cloud_scores(points, frame.surface_points)},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    log.info("wrote %s: %d visible + %d completed points, cloud %.1f s after the request", out, len(visible),
             summary["completed_points"], summary["timings_s"]["cloud_after_request"])
    return 0
