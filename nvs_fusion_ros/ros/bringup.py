"""``nvs-fusion launch``: both nodes in one process, for installs without ``ros2 launch``.

``--rgbd`` also runs ``rgbd_completion`` (opt-in: it loads a second model) from the params file's
``rgbd_completion`` section and feeds ``view_buffer`` from it (``rgbd_feed``), like the launch file's
``rgbd:=true``; ``--video`` also runs ``video_synthesis`` (opt-in: it loads the view model and a temporal
model) from its section, like ``video:=true``; ``--set`` applies after that, so it can still change any of them.

Reads the same ROS 2 params file as the launch file (``node_name: ros__parameters: ...``;
keys may be ``view_buffer``, ``/ns/view_buffer`` or wildcards such as ``/**/view_buffer``
and ``/**``), applies ``--set node.param=value`` overrides (values parsed as YAML), and
serves ``view_buffer`` and ``novel_view`` (and the opt-in nodes; ``harness.serve``) until SIGINT or SIGTERM, which
cancel a running job and exit 0. Like any ROS 2 node it takes ``--ros-args`` last (remapping
``-r views:=/robot/views``, ``-p use_sim_time:=true``, ``--log-level``); ``use_sim_time`` may also
be set in the params file or with ``--set``. A bad value exits 2 with one line naming it.

Under Fast DDS (the default middleware) the nodes load the shipped profile ``config/fastdds_large_images.xml``
(camera-sized images through shared memory in one piece), unless the user chose their own (``dds_environment``);
the launch file does the same for the processes it starts.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

NODE_NAMES = ("view_buffer", "novel_view")
RGBD_NODE = "rgbd_completion"  # opt-in: started only when its parameters are loaded (rgbd=True)
VIDEO_NODE = "video_synthesis"  # opt-in: started only when its parameters are loaded (video=True)
CONFIG_NAME = "viewfusion.yaml"
DDS_PROFILE_NAME = "fastdds_large_images.xml"
#: where Fast DDS looks for an XML profile: 3.x (Kilted on) reads the first, 2.x (Humble, Jazzy) the second
PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
#: distributions whose Fast DDS (2.x) reads only FASTRTPS_DEFAULT_PROFILES_FILE; later ones warn that it is deprecated
FAST_DDS_2_DISTROS = ("humble", "iron", "jazzy")
#: what else means the user configured Fast DDS's transports themselves
OWN_TRANSPORT_VARIABLES = ("FASTDDS_BUILTIN_TRANSPORTS",)


def _share_directories() -> list[Path]:
    """Where an installed package keeps config/: the ament index (when set up) and sys.prefix/share."""
    found = []
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        found.append(Path(get_package_share_directory("nvs_fusion_ros")))
    except (ImportError, PackageNotFoundError, OSError):  # OSError: AMENT_PREFIX_PATH unset (pip-only install)
        pass
    return [*found, Path(sys.prefix) / "share" / "nvs_fusion_ros"]


def default_config_path(name: str = CONFIG_NAME) -> Path:
    """A shipped config file: the source tree's config/, else the installed share directory."""
    candidates = [Path(__file__).resolve().parents[2] / "config" / name]
    if not candidates[0].is_file():
        candidates += [share / "config" / name for share in _share_directories()]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no {name} found; looked in {[str(c) for c in candidates]}; pass --config")


def dds_environment(environ: dict[str, str] | os._Environ[str], profile: str | Path) -> dict[str, str]:
    """The variables that make Fast DDS load ``profile``; none when the user set a profile or Fast DDS's transports
    (``PROFILE_VARIABLES``, ``OWN_TRANSPORT_VARIABLES``) or chose another middleware (``RMW_IMPLEMENTATION``)."""
    if any(environ.get(name) for name in (*PROFILE_VARIABLES, *OWN_TRANSPORT_VARIABLES)):
        return {}
    if not (environ.get("RMW_IMPLEMENTATION") or "rmw_fastrtps_cpp").startswith("rmw_fastrtps"):
        return {}
    return {profile_variable(environ): str(profile)}


def profile_variable(environ: dict[str, str] | os._Environ[str]) -> str:
    """The variable this ROS distribution's Fast DDS reads (``ROS_DISTRO``; unset: a pip install, Kilted or later)."""
    return PROFILE_VARIABLES[1] if environ.get("ROS_DISTRO") in FAST_DDS_2_DISTROS else PROFILE_VARIABLES[0]


def fully_qualified_name(namespace: str, name: str) -> str:
    namespace = namespace.strip("/")
    return f"/{namespace}/{name}" if namespace else f"/{name}"


def key_matches(key: str, node_fqn: str) -> bool:
    """Whether a params-file key selects the node, with rcl's wildcards: ``**`` any namespaces, ``*`` one name."""
    key = key if key.startswith("/") else "/" + key
    pattern = "".join(
        "(/[^/]+)*" if part == "**" else "/" + ("[^/]+" if part == "*" else re.escape(part)) for part in key.strip("/").split("/")
    )
    return re.fullmatch(pattern, node_fqn) is not None


def load_parameters(path: str | Path, namespace: str = "", rgbd: bool = False,
                    video: bool = False) -> dict[str, dict[str, Any]]:
    """Each node's parameters from a ROS 2 params file; sections apply in file order, later ones win.

    With ``rgbd``, also ``rgbd_completion``'s, and ``view_buffer`` takes its inputs from that node (``rgbd_feed``);
    with ``video``, also ``video_synthesis``'s.
    """
    try:
        document = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path} must map node names to {{ros__parameters: ...}}")
    names = (*NODE_NAMES, *([RGBD_NODE] if rgbd else []), *([VIDEO_NODE] if video else []))
    params: dict[str, dict[str, Any]] = {name: {} for name in names}
    for key, section in document.items():
        if not isinstance(section, dict) or not isinstance(section.get("ros__parameters"), dict):
            raise ValueError(f"{path}: section {key!r} has no 'ros__parameters' mapping")
        for name in params:
            if key_matches(str(key), fully_qualified_name(namespace, name)):
                params[name].update(section["ros__parameters"])
    if rgbd:
        params["view_buffer"].update(rgbd_feed(params[RGBD_NODE]))
    return params


def rgbd_feed(rgbd_params: dict[str, Any]) -> dict[str, Any]:
    """view_buffer's inputs when rgbd_completion runs: its colour topic, mask and ROI (relative names: same namespace)."""
    from .camera_topics import COLOUR_TOPIC

    return {"image_topics": [rgbd_params.get("colour_topic", COLOUR_TOPIC)], "mask_topic": f"{RGBD_NODE}/mask",
            "roi_topic": f"{RGBD_NODE}/roi"}


def apply_sets(params: dict[str, dict[str, Any]], sets: list[str]) -> None:
    """Apply ``node.param=value`` overrides in place; the value is parsed as YAML (``[1, 2]``, ``true``, ``0.5``)."""
    for item in sets:
        target, sep, text = item.partition("=")
        node, dot, name = target.partition(".")
        if not sep or not dot or not name:
            raise ValueError(f"--set {item!r}: expected node.param=value")
        if node not in params:
            raise ValueError(f"--set {item!r}: unknown node {node!r}; nodes: {list(params)}")
        params[node][name] = yaml.safe_load(text) if text else ""


def create_nodes(params: dict[str, dict[str, Any]], namespace: str = "", context: object = None) -> list:
    """Both nodes, and rgbd_completion and video_synthesis when ``params`` holds their sections, with these
    parameters (unknown names are an error, ints accepted for doubles)."""
    from .novel_view_node import NovelViewNode
    from .novel_view_params import PARAMETERS as NOVEL_VIEW_PARAMETERS
    from .parameters import overrides
    from .view_buffer_node import PARAMETERS as VIEW_BUFFER_PARAMETERS
    from .view_buffer_node import ViewBufferNode

    kinds = [(ViewBufferNode, VIEW_BUFFER_PARAMETERS, "view_buffer"), (NovelViewNode, NOVEL_VIEW_PARAMETERS, "novel_view")]
    if RGBD_NODE in params:
        from .rgbd_node import PARAMETERS as RGBD_PARAMETERS
        from .rgbd_node import RgbdCompletionNode

        kinds.append((RgbdCompletionNode, RGBD_PARAMETERS, RGBD_NODE))
    if VIDEO_NODE in params:
        from .video_node import VideoSynthesisNode
        from .video_params import PARAMETERS as VIDEO_PARAMETERS

        kinds.append((VideoSynthesisNode, VIDEO_PARAMETERS, VIDEO_NODE))
    plan = []
    for cls, specs, name in kinds:
        try:  # every value is checked before any node (and the model) is loaded
            plan.append((cls, overrides(specs, params.get(name, {}))))
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    nodes = []
    try:
        for cls, values in plan:
            nodes.append(cls(namespace=namespace, context=context, parameter_overrides=values))
    except BaseException:  # also Ctrl-C while the model loads
        for node in nodes:
            node.destroy_node()
        raise
    return nodes


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("launch", help="run view_buffer and novel_view in one process (no ros2 launch needed)")
    parser.add_argument("--config", default=None, help=f"ROS 2 params file (default: the shipped {CONFIG_NAME})")
    parser.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                        help="override one parameter, e.g. novel_view.engine=onnxruntime (repeatable)")
    parser.add_argument("--namespace", default="", help="namespace of both nodes")
    parser.add_argument("--rgbd", action="store_true",
                        help="also run rgbd_completion (a second model) and feed view_buffer its colour, mask and ROI")
    parser.add_argument("--video", action="store_true",
                        help="also run video_synthesis (a moving object's clip from other azimuths; a temporal model)")
    parser.add_argument("--ros-args", dest="ros_args", nargs=argparse.REMAINDER, default=None,
                        help="ROS arguments for both nodes, last on the line (e.g. --ros-args -r views:=/cam/views)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rclpy.exceptions import InvalidNamespaceException
    from rclpy.validate_namespace import validate_namespace

    from .harness import serve

    if args.namespace:
        try:
            validate_namespace(args.namespace if args.namespace.startswith("/") else "/" + args.namespace)
        except InvalidNamespaceException as exc:
            reason = str(exc).splitlines()[0].removeprefix("Invalid namespace: ").rstrip(":")
            raise ValueError(f"--namespace {args.namespace!r} is not a valid ROS namespace: {reason}") from None
    params = load_parameters(args.config or default_config_path(), args.namespace, args.rgbd, args.video)
    apply_sets(params, args.set)
    dds = dds_environment(os.environ, default_config_path(DDS_PROFILE_NAME))
    os.environ.update(dds)  # before rclpy creates this process's DDS participant, which reads them
    if dds:
        ((variable, path),) = dds.items()
        print(f"Fast DDS profile: {path} (set {variable} to use your own)", flush=True)
    ros_args = None if args.ros_args is None else ["--ros-args", *args.ros_args]
    return serve(lambda context: create_nodes(params, args.namespace, context), ros_args)
