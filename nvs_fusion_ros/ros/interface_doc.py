"""docs/ros_interface.md, written from the nodes' own tables.

The parameter tables come from the ``PARAMETERS`` each node declares from (name, type, default, range,
meaning), so they cannot disagree with the code. Topics and services are listed here, one ``Endpoint``
each, and test_ros_interface_doc starts the four nodes and checks that exactly these endpoints exist.

    python -m nvs_fusion_ros.ros.interface_doc            # write docs/ros_interface.md
    python -m nvs_fusion_ros.ros.interface_doc --check    # exit 1 if the file differs from the code
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rclpy.parameter import Parameter

from .image_conversions import ENCODINGS
from .parameters import ParamSpec

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "ros_interface.md"

SENSOR = "`input_qos`: best effort (sensor data) or reliable; volatile; depth `input_qos_depth`"
RESULT = "reliable, volatile, depth {depth}"
KEY_VIEWS = "reliable, transient local, depth `max_views` (a late subscriber gets the current set)"
RESET = "reliable, volatile, depth 100"


@dataclass(frozen=True)
class Endpoint:
    """A topic or service of a node. ``name`` as the node resolves it in the root namespace, or the parameter
    that holds it (``param``); ``when``: the condition under which the node creates it."""

    name: str
    type: str
    qos: str
    meaning: str
    param: str = ""
    when: str = ""


@dataclass(frozen=True)
class NodeDoc:
    name: str
    executable: str
    summary: str
    subscriptions: tuple[Endpoint, ...]
    publications: tuple[Endpoint, ...]
    services: tuple[Endpoint, ...]

    def parameters(self) -> tuple[ParamSpec, ...]:
        if self.name == "view_buffer":
            from .view_buffer_node import PARAMETERS
        elif self.name == "novel_view":
            from .novel_view_params import PARAMETERS
        elif self.name == "video_synthesis":
            from .video_params import PARAMETERS
        else:
            from .rgbd_node import PARAMETERS
        return PARAMETERS


DIAGNOSTICS = Endpoint("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray", RESULT.format(depth=10),
                       "status once a second: what the node holds, its model and queue, counts of dropped input by cause")

NODES = (
    NodeDoc(
        "view_buffer", "view_buffer",
        "Keeps a small set of pose-free key views of the object from camera images and publishes the whole set "
        "whenever it changes.",
        subscriptions=(
            Endpoint("/camera/image_raw", "sensor_msgs/msg/Image", SENSOR, "camera images; encodings: " + ", ".join(ENCODINGS),
                     param="image_topics"),
            Endpoint("", "sensor_msgs/msg/RegionOfInterest", SENSOR, "crop images to this box (the latest applies)",
                     param="roi_topic", when="`roi_topic` set"),
            Endpoint("", "sensor_msgs/msg/Image", SENSOR, "mono8 object mask (non-zero = object), paired with its "
                     "image by stamp within `mask_slop`; the background is painted white", param="mask_topic",
                     when="`mask_topic` set"),
            Endpoint("/reset", "std_msgs/msg/Empty", RESET, "forget the key views (a new object)"),
        ),
        publications=(
            Endpoint("/views", "sensor_msgs/msg/Image", KEY_VIEWS, "the key views: rgb8, `image_size` square, each "
                     "with its source image's header; an image with no pixels marks a reset"),
            DIAGNOSTICS,
        ),
        services=(),
    ),
    NodeDoc(
        "novel_view", "novel_view",
        "Synthesizes the object from requested azimuths out of the key views: K occlusion hypotheses with "
        "per-view weight maps and a per-pixel uncertainty, orbits, a point cloud and mesh.",
        subscriptions=(
            Endpoint("/views", "sensor_msgs/msg/Image", KEY_VIEWS, "key views from view_buffer"),
            Endpoint("/target_angle", "std_msgs/msg/Float32", RESULT.format(depth=10),
                     "one request: the target azimuth in radians (from the newest key view for a camera-relative "
                     "model)"),
            Endpoint("/reset", "std_msgs/msg/Empty", RESET, "forget the views, cancel the running job"),
        ),
        publications=(
            Endpoint("/novel_view/image", "sensor_msgs/msg/Image", RESULT.format(depth="`output_qos_depth`"),
                     "the first hypothesis at the requested azimuth (rgb8)"),
            Endpoint("/novel_view/mean", "sensor_msgs/msg/Image", RESULT.format(depth="`output_qos_depth`"),
                     "the mean of the K hypotheses: the best single guess of the view; the hypotheses are the "
                     "plausible alternatives (rgb8)"),
            Endpoint("/novel_view/hypotheses", "sensor_msgs/msg/Image", RESULT.format(depth="`output_qos_depth`"),
                     "all K hypotheses, tiled left to right (rgb8)"),
            Endpoint("/novel_view/weights", "sensor_msgs/msg/Image", RESULT.format(depth="`output_qos_depth`"),
                     "how much each key view contributed per pixel (32FC1, 0..1, one tile per view, oldest first)"),
            Endpoint("/novel_view/uncertainty", "sensor_msgs/msg/Image", RESULT.format(depth="`output_qos_depth`"),
                     "per-pixel standard deviation over the hypotheses, colours in 0..1 (32FC1)"),
            Endpoint("/novel_view/orbit", "sensor_msgs/msg/Image", RESULT.format(depth="`output_qos_depth`"),
                     "one view per azimuth of `target_angles` after `~/synthesize_orbit` (rgb8)"),
            Endpoint("/novel_view/points", "sensor_msgs/msg/PointCloud2", RESULT.format(depth="`output_qos_depth`"),
                     "after `~/reconstruct`: surface points x y z rgb, metres, frame `reconstruction_frame_id`"),
            Endpoint("/novel_view/mesh", "visualization_msgs/msg/Marker", RESULT.format(depth="`output_qos_depth`"),
                     "after `~/reconstruct`: the mesh as a TRIANGLE_LIST marker"),
            DIAGNOSTICS,
        ),
        services=(
            Endpoint("/novel_view/synthesize_orbit", "std_srvs/srv/Trigger", "",
                     "queue an orbit over `target_angles`; answers at once with the stamp the outputs will carry"),
            Endpoint("/novel_view/reconstruct", "std_srvs/srv/Trigger", "",
                     "queue a 3D reconstruction of the held views; refuses, saying why, without views"),
        ),
    ),
    NodeDoc(
        "video_synthesis", "video_synthesis",
        "Keeps the last frames of a moving object's camera stream and synthesizes the clip from other azimuths, "
        "frame by frame (Diffusion²'s composition of the view model and a temporal model). Opt-in: `video:=true`, "
        "`nvs-fusion launch --video`.",
        subscriptions=(
            Endpoint("/camera/image_raw", "sensor_msgs/msg/Image", SENSOR.replace("; depth `input_qos_depth`", "; depth 5"),
                     "the moving object's camera stream; every `video_frame_period` s (by stamp) a frame is kept",
                     param="frames_topic"),
            Endpoint("/reset", "std_msgs/msg/Empty", RESET, "forget the frames, cancel the running clip"),
        ),
        publications=(
            Endpoint("/video_synthesis/video", "sensor_msgs/msg/Image", RESULT.format(depth="`output_qos_depth`"),
                     "one image per azimuth and frame after `~/synthesize_video`, frame by frame, each stamped with "
                     "its frame's stamp (frame_id `nvs_view_<v>`, rgb8)"),
            DIAGNOSTICS,
        ),
        services=(
            Endpoint("/video_synthesis/synthesize_video", "std_srvs/srv/Trigger", "",
                     "queue the held clip from every azimuth of `target_angles`; refuses, saying why, without frames"),
        ),
    ),
    NodeDoc(
        "rgbd_completion", "rgbd_completion",
        "From colour, registered depth and CameraInfo: segments the object on its support plane, publishes its "
        "mask and ROI for view_buffer, and on request completes its hidden side in metres, in the camera frame, "
        "for grasp planners and collision checking.",
        subscriptions=(
            Endpoint("/camera/color/image_raw", "sensor_msgs/msg/Image", SENSOR, "colour image",
                     param="colour_topic"),
            Endpoint("/camera/aligned_depth_to_color/image_raw", "sensor_msgs/msg/Image", SENSOR,
                     "depth registered to the colour image: 16UC1 millimetres or 32FC1 metres", param="depth_topic"),
            Endpoint("/camera/color/camera_info", "sensor_msgs/msg/CameraInfo", SENSOR,
                     "intrinsics of the colour image", param="camera_info_topic"),
            Endpoint("", "sensor_msgs/msg/RegionOfInterest", SENSOR, "chooses the object (default: the object "
                     "nearest the image centre)", param="roi_topic", when="`roi_topic` set"),
            Endpoint("/views", "sensor_msgs/msg/Image", KEY_VIEWS, "key views from view_buffer, composed with the "
                     "latest RGB-D frame"),
            Endpoint("/reset", "std_msgs/msg/Empty", RESET, "forget the paired frame, the messages waiting to pair, "
                     "the ROI and the key views; drop a queued completion and cancel the running one"),
        ),
        publications=(
            Endpoint("/rgbd_completion/mask", "sensor_msgs/msg/Image", RESULT.format(depth=5),
                     "mono8 object mask (255 = object) per paired frame, at most every `mask_period` s"),
            Endpoint("/rgbd_completion/roi", "sensor_msgs/msg/RegionOfInterest", RESULT.format(depth=5),
                     "the object's box, framed as the model was trained"),
            Endpoint("/rgbd_completion/object_cloud", "sensor_msgs/msg/PointCloud2", RESULT.format(depth=2),
                     "after `~/complete`: x y z (metres) rgb confidence; visible points have confidence 1, completed "
                     "ones the share of hypotheses that agree (at least `min_confidence`)"),
            Endpoint("/rgbd_completion/object_mesh", "visualization_msgs/msg/Marker", RESULT.format(depth=2),
                     "after `~/complete`: the completed surface as a TRIANGLE_LIST marker"),
            Endpoint("/rgbd_completion/collision_mesh", "shape_msgs/msg/Mesh", RESULT.format(depth=2),
                     "after `~/complete`: the same surface for a MoveIt collision object"),
            DIAGNOSTICS,
        ),
        services=(
            Endpoint("/rgbd_completion/complete", "std_srvs/srv/Trigger", "",
                     "complete the object in the latest paired frame; refuses, saying why, when no object stands "
                     "on the plane"),
        ),
    ),
)

FRAMES = """\
## Frames, units and stamps

- Angles: **radians** in every topic, service and parameter (`target_angle`, `target_angles`), except
  `max_grazing_deg`, which says degrees in its name. The command line takes degrees.
- Azimuths are measured about the object's vertical axis, from the newest key view for a camera-relative model
  (the default), in the object's canonical frame for a canonical one; the node logs which at start.
- 3D outputs are in **metres**. `rgbd_completion`'s cloud and meshes are in the colour image's `frame_id`
  (the camera's optical frame) at its stamp; `novel_view`'s `~/points` and `~/mesh` are in
  `reconstruction_frame_id` (default: the key views' frame), in the object's normalized scale.
- Every output of a request carries the stamp the request was received at (`novel_view`) or the input frame's
  stamp (`rgbd_completion`; `video_synthesis`: each cell its frame's), and the frame_id of the newest key view or of
  the colour image (`video_synthesis`: `nvs_view_<v>`, the azimuth).
"""


def _type_name(spec: ParamSpec) -> str:
    return {Parameter.Type.BOOL: "bool", Parameter.Type.INTEGER: "int", Parameter.Type.DOUBLE: "double",
            Parameter.Type.STRING: "string", Parameter.Type.DOUBLE_ARRAY: "double[]",
            Parameter.Type.STRING_ARRAY: "string[]"}[spec.type]


def _default(spec: ParamSpec) -> str:
    value = spec.default
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return "[" + ", ".join(f"{v:.4g}" if isinstance(v, float) else f'"{v}"' for v in value) + "]"
    return f'"{value}"' if isinstance(value, str) else str(value)


def _valid(spec: ParamSpec) -> str:
    if spec.choices:
        return " | ".join(f"`{c}`" for c in spec.choices)
    if spec.int_range:
        return f"{spec.int_range[0]} .. {spec.int_range[1]}"
    if spec.float_range:
        return f"{spec.float_range[0]:g} .. {spec.float_range[1]:g}"
    return ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _endpoints(title: str, endpoints: Sequence[Endpoint], with_qos: bool = True) -> list[str]:
    if not endpoints:
        return []
    head = "| name | type | QoS | meaning |\n|---|---|---|---|" if with_qos else "| name | type | meaning |\n|---|---|---|"
    lines = [f"**{title}**", "", head]
    for e in endpoints:
        name = f"`{e.name}`" if e.name else ""
        if e.param:
            name = f"parameter `{e.param}`" + (f" (default `{e.name}`)" if e.name else "")
        meaning = e.meaning + (f" *(only with {e.when})*" if e.when else "")
        cells = [name, f"`{e.type}`", *([e.qos] if with_qos else []), meaning]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return [*lines, ""]


def render() -> str:
    """The whole page."""
    out = ["# ROS 2 interface", "",
           "Generated by `python -m nvs_fusion_ros.ros.interface_doc` from the nodes' parameter tables; a test fails "
           "when this page and the code disagree. Names are shown for nodes started in the root namespace with the "
           "shipped `config/viewfusion.yaml`; `~/x` is `/<node name>/x`. Every parameter can be set in the params "
           "file, with `--ros-args -p name:=value`, or with `nvs-fusion launch --set node.name=value`; read-only "
           "parameters take effect at start, the others also with `ros2 param set`.", ""]
    out += [f"- [{n.name}](#{n.name})" for n in NODES] + ["- [Frames, units and stamps](#frames-units-and-stamps)", ""]
    for node in NODES:
        out += [f"## {node.name}", "", node.summary, "", f"Executable: `{node.executable}` "
                f"(`ros2 run nvs_fusion_ros {node.executable}`).", ""]
        out += _endpoints("Subscribed topics", node.subscriptions)
        out += _endpoints("Published topics", node.publications)
        out += _endpoints("Services", node.services, with_qos=False)
        out += ["**Parameters**", "", "| name | type | default | valid | read-only | meaning |", "|---|---|---|---|---|---|"]
        for spec in node.parameters():
            out.append("| " + " | ".join(_cell(c) for c in (
                f"`{spec.name}`", _type_name(spec), f"`{_default(spec)}`", _valid(spec), "yes" if spec.read_only else "",
                spec.description)) + " |")
        out.append("")
    return "\n".join(out) + "\n" + FRAMES


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the page differs from the code, write nothing")
    parser.add_argument("--out", type=Path, default=DOC_PATH, help="where the page goes")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        same = args.out.is_file() and args.out.read_text() == text
        print(f"{args.out}: {'up to date' if same else 'differs from the code; regenerate it'}")
        return 0 if same else 1
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
