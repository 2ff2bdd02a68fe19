"""The launch file, the shipped yaml config and the pip-only bringup that reads the same yaml."""

from __future__ import annotations

import ast
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from xml.etree import ElementTree

import pytest
import yaml
from message_readers import display_topics
from ros_testing import next_domain

from nvs_fusion_ros.diffusion.samplers import SAMPLERS
from nvs_fusion_ros.engines.factory import ENGINES
from nvs_fusion_ros.ros.bringup import (
    DDS_PROFILE_NAME,
    PROFILE_VARIABLES,
    apply_sets,
    dds_environment,
    default_config_path,
    key_matches,
    load_parameters,
)
from nvs_fusion_ros.ros.rviz_config import adapt

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = ROOT / "launch" / "viewfusion.launch.py"
CONFIG = ROOT / "config" / "viewfusion.yaml"
RVIZ = ROOT / "config" / "viewfusion.rviz"


def launch_module() -> ModuleType:
    """The launch file as a module; it imports launch only inside generate_launch_description."""
    spec = importlib.util.spec_from_file_location("viewfusion_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(importlib.util.find_spec("launch_ros") is None,
                    reason="launch_ros is not installable from PyPI; the launch file is run only on a ROS 2 install")
def test_launch_file_runs_into_the_nodes_and_rviz(monkeypatch: pytest.MonkeyPatch) -> None:
    import ament_index_python.packages
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch_ros.actions import Node

    from launch import LaunchContext

    monkeypatch.setattr(ament_index_python.packages, "get_package_share_directory", lambda package: str(ROOT))
    description = launch_module().generate_launch_description()
    context = LaunchContext()
    declared = [e for e in description.entities if isinstance(e, DeclareLaunchArgument)]
    for argument in declared:
        argument.execute(context)  # sets the defaults
    context.launch_configurations.update(namespace="robot1", rviz="true", image_topic="/arm/image")
    (function,) = [e for e in description.entities if isinstance(e, OpaqueFunction)]
    nodes = [a for a in function.execute(context) if isinstance(a, Node)]
    assert {(n.node_package, n.node_executable) for n in nodes} == {("nvs_fusion_ros", "view_buffer"),
                                                                   ("nvs_fusion_ros", "novel_view"), ("rviz2", "rviz2")}
    context.launch_configurations.update(rgbd="true", video="true")
    nodes = [a for a in function.execute(context) if isinstance(a, Node)]
    started = {(n.node_package, n.node_executable) for n in nodes}
    assert {("nvs_fusion_ros", "rgbd_completion"), ("nvs_fusion_ros", "video_synthesis")} <= started
    assert {a.name for a in declared} == set(launch_module().ARGUMENT_NAMES)


def test_every_launch_argument_read_is_declared_and_every_override_is_a_parameter() -> None:
    """Where launch is missing: the declarations are read from the source, the argument mapping is run."""
    from nvs_fusion_ros.ros.novel_view_params import PARAMETERS as NOVEL_VIEW_PARAMETERS
    from nvs_fusion_ros.ros.rgbd_node import PARAMETERS as RGBD_PARAMETERS
    from nvs_fusion_ros.ros.video_params import PARAMETERS as VIDEO_PARAMETERS
    from nvs_fusion_ros.ros.view_buffer_node import PARAMETERS as VIEW_BUFFER_PARAMETERS

    tree = ast.parse(LAUNCH_FILE.read_text())
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)]
    declared = {c.args[0].value for c in calls if c.func.id == "DeclareLaunchArgument"}
    literal_reads = {c.args[0].value for c in calls if c.func.id == "LaunchConfiguration" and isinstance(c.args[0], ast.Constant)}
    module = launch_module()
    assert set(module.ARGUMENT_NAMES) | literal_reads == declared
    node_calls = [c for c in calls if c.func.id == "Node"]
    assert node_calls and not [k.arg for c in node_calls for k in c.keywords if k.arg == "remappings"]  # topics are parameters

    config = load_parameters(CONFIG, rgbd=True, video=True)
    everything = {name: "x" for name in module.ARGUMENT_NAMES}
    buffer, novel_view, rgbd, video = module.parameter_overrides(everything)
    assert set(buffer) <= {s.name for s in VIEW_BUFFER_PARAMETERS} and set(buffer) <= set(config["view_buffer"])
    assert set(novel_view) <= {s.name for s in NOVEL_VIEW_PARAMETERS} and set(novel_view) <= set(config["novel_view"])
    assert set(rgbd) <= {s.name for s in RGBD_PARAMETERS} and set(rgbd) <= set(config["rgbd_completion"])
    assert set(video) <= {s.name for s in VIDEO_PARAMETERS} and set(video) <= set(config["video_synthesis"])
    assert buffer == {"image_topics": ["x"]} and video["frames_topic"] == "x" and rgbd["colour_topic"] == "x"
    blank = {name: "" for name in module.ARGUMENT_NAMES}
    assert module.parameter_overrides(blank) == ({}, {}, {}, {})  # '' keeps the yaml
    assert module.choices("engine")[1:] == list(ENGINES) and module.choices("sampler")[1:] == list(SAMPLERS)


def test_rgbd_argument_feeds_view_buffer_the_completion_nodes_colour_mask_and_roi() -> None:
    from rclpy.expand_topic_name import expand_topic_name

    module = launch_module()
    blank = {name: "" for name in module.ARGUMENT_NAMES}
    section = load_parameters(CONFIG, rgbd=True)["rgbd_completion"]
    buffer, _, rgbd, _ = module.parameter_overrides({**blank, "rgbd": "true"}, section)
    assert buffer == {"image_topics": [section["colour_topic"]], "mask_topic": "rgbd_completion/mask",
                      "roi_topic": "rgbd_completion/roi"} and rgbd == {}
    for output in ("mask", "roi"):  # view_buffer's relative name is rgbd_completion's private topic in any namespace
        assert expand_topic_name(buffer[f"{output}_topic"], "view_buffer", "/robot1") == \
            expand_topic_name(f"~/{output}", "rgbd_completion", "/robot1") == f"/robot1/rgbd_completion/{output}"
    buffer, _, rgbd, _ = module.parameter_overrides({**blank, "rgbd": "true", "image_topic": "/arm/color"}, section)
    assert buffer["image_topics"] == ["/arm/color"] and rgbd == {"colour_topic": "/arm/color"}
    _, novel_view, rgbd, _ = module.parameter_overrides({**blank, "rgbd": "true", "model_file_path": "/m/blobs.pt",
                                                         "rgbd_model_file_path": "/m/household.pt"}, section)
    assert novel_view == {"model_file_path": "/m/blobs.pt"} and rgbd == {"model_file_path": "/m/household.pt"}
    _, novel_view, rgbd, _ = module.parameter_overrides({**blank, "rgbd": "true", "model_file_path": "/m/blobs.pt"},
                                                        section)
    assert rgbd == {}  # novel_view's checkpoint is never handed to rgbd_completion
    tree = ast.parse(LAUNCH_FILE.read_text())
    (rgbd_argument,) = [c for c in ast.walk(tree) if isinstance(c, ast.Call) and getattr(c.func, "id", "") ==
                        "DeclareLaunchArgument" and c.args[0].value == "rgbd"]
    assert {k.arg: ast.literal_eval(k.value) for k in rgbd_argument.keywords}["default_value"] == "false"  # opt-in


def test_rviz_layout_shows_every_output_under_the_namespace_with_the_given_fixed_frame() -> None:
    from nvs_fusion_ros.ros.novel_view_jobs import IMAGE_OUTPUTS

    text = RVIZ.read_text()
    outputs = {"/views", *(f"/novel_view/{name}" for name in (*IMAGE_OUTPUTS, "points", "mesh")),
               "/rgbd_completion/object_cloud", "/rgbd_completion/object_mesh", "/video_synthesis/video"}
    assert set(display_topics(yaml.safe_load(text))) == outputs
    (completion,) = [d for d in yaml.safe_load(text)["Visualization Manager"]["Displays"]
                     if d.get("Topic", {}).get("Value") == "/rgbd_completion/object_cloud"]
    assert (completion["Color Transformer"], completion["Channel Name"]) == ("Intensity", "confidence")
    assert (completion["Min Intensity"], completion["Max Intensity"]) == (0, 1)
    layout = adapt(text, "robot1", "odom")
    assert set(display_topics(layout)) == {f"/robot1{topic}" for topic in outputs}
    assert layout["Visualization Manager"]["Global Options"]["Fixed Frame"] == "odom"
    assert display_topics(adapt(text, "/", "base_link")) == display_topics(yaml.safe_load(text))
    classes = {d["Class"] for d in layout["Visualization Manager"]["Displays"]}
    assert {"rviz_default_plugins/PointCloud2", "rviz_default_plugins/Marker", "rviz_default_plugins/Image"} <= classes
    with pytest.raises(ValueError, match="fixed_frame"):
        adapt(text, "", "")
    depends = {e.text for e in ElementTree.parse(ROOT / "package.xml").getroot().iter("exec_depend")}
    assert "rviz2" not in depends  # rviz:=true is optional: a headless robot needs no RViz (docs/install.md)


def test_the_adapted_rviz_layout_is_removed_when_the_launch_process_exits() -> None:
    code = ("import sys; from nvs_fusion_ros.ros.rviz_config import write_adapted; "
            "path = write_adapted(sys.argv[1], 'robot1', 'odom'); print(path); assert path.is_file()")
    result = subprocess.run([sys.executable, "-c", code, str(RVIZ)], capture_output=True, text=True, check=True)
    path = Path(result.stdout.strip())
    assert path.name == "viewfusion.rviz" and not path.parent.exists()


@pytest.mark.ros
def test_config_holds_exactly_the_parameters_the_nodes_declare(tiny_checkpoint: Path, temporal_checkpoint: Path) -> None:
    """Start the four nodes from the shipped yaml (so each value also has the declared type) and compare names."""
    import rclpy
    from rclpy.context import Context

    from nvs_fusion_ros.ros.bringup import create_nodes

    params = load_parameters(CONFIG, rgbd=True, video=True)
    declared_in_yaml = {name: set(values) for name, values in params.items()}
    for name in ("novel_view", "rgbd_completion", "video_synthesis"):
        params[name].update(model_file_path=str(tiny_checkpoint), engine="torch", device="cpu")
    params["video_synthesis"]["temporal_model_file_path"] = str(temporal_checkpoint)
    context = Context()
    rclpy.init(context=context, domain_id=next_domain())
    try:
        nodes = create_nodes(params, context=context)
        try:
            assert [node.get_name() for node in nodes] == ["view_buffer", "novel_view", "rgbd_completion",
                                                           "video_synthesis"]
            for node in nodes:
                declared = set(node._parameters) - {"use_sim_time", "start_type_description_service"}
                assert declared_in_yaml[node.get_name()] == declared, node.get_name()
            assert nodes[0].get_parameter("mask_topic").value == "rgbd_completion/mask"
            assert nodes[0].get_parameter("max_views").value == nodes[1].get_parameter("max_views").value
        finally:
            for node in nodes:
                node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def test_params_file_keys_match_like_rcl() -> None:
    assert key_matches("view_buffer", "/view_buffer")
    assert key_matches("/view_buffer", "/view_buffer")
    assert not key_matches("view_buffer", "/robot/view_buffer")
    assert key_matches("/**/view_buffer", "/robot/arm/view_buffer") and key_matches("/**/view_buffer", "/view_buffer")
    assert key_matches("/**", "/robot/novel_view")
    assert key_matches("/*/novel_view", "/robot/novel_view") and not key_matches("/*/novel_view", "/a/b/novel_view")
    assert not key_matches("/**/view_buffer", "/novel_view")


def test_load_parameters_merges_sections_in_order_and_applies_sets(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({
        "/**": {"ros__parameters": {"max_views": 4}},
        "/robot/novel_view": {"ros__parameters": {"steps": 3, "max_views": 5}},
        "/other/view_buffer": {"ros__parameters": {"max_views": 9}},
    }))
    params = load_parameters(path, namespace="robot")
    assert params == {"view_buffer": {"max_views": 4}, "novel_view": {"max_views": 5, "steps": 3}}
    with_rgbd = load_parameters(path, namespace="robot", rgbd=True)  # no section: the node's defaults, view_buffer fed
    assert with_rgbd["rgbd_completion"] == {"max_views": 4} and with_rgbd["view_buffer"]["image_topics"] == [
        "/camera/color/image_raw"] and with_rgbd["view_buffer"]["roi_topic"] == "rgbd_completion/roi"
    apply_sets(params, ["novel_view.target_angles=[0, 1.5]", "view_buffer.mask_topic=", "novel_view.enable_fp16=false"])
    assert params["novel_view"]["target_angles"] == [0, 1.5] and params["novel_view"]["enable_fp16"] is False
    assert params["view_buffer"]["mask_topic"] == ""
    with pytest.raises(ValueError, match=r"expected node\.param=value"):
        apply_sets(params, ["novel_view"])
    with pytest.raises(ValueError, match="unknown node 'camera'"):
        apply_sets(params, ["camera.rate=1"])
    path.write_text("view_buffer: {max_views: 3}\n")
    with pytest.raises(ValueError, match="no 'ros__parameters' mapping"):
        load_parameters(path)
    assert default_config_path() == CONFIG


def test_unknown_parameters_are_refused_before_any_node_starts() -> None:
    from nvs_fusion_ros.ros.bringup import create_nodes

    with pytest.raises(ValueError, match=r"view_buffer: unknown parameters \['no_such_parameter'\]"):
        create_nodes({"view_buffer": {"no_such_parameter": 1}, "novel_view": {}})


@pytest.mark.ros
@pytest.mark.parametrize(("ctrl_c_after", "rgbd", "video"), [
    ("running /view_buffer, /novel_view;", False, False),
    ("[view_buffer]: keeping up to", False, False),
    ("running /view_buffer, /novel_view, /rgbd_completion;", True, False),
    ("running /view_buffer, /novel_view, /video_synthesis;", False, True)],
    ids=["while spinning", "while the nodes start", "with --rgbd, while spinning", "with --video, while spinning"])
def test_bringup_runs_the_nodes_and_stops_cleanly_on_ctrl_c(tiny_checkpoint: Path, temporal_checkpoint: Path,
                                                            ctrl_c_after: str, rgbd: bool, video: bool) -> None:
    env = {**os.environ, "ROS_DOMAIN_ID": str(next_domain()), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "nvs_fusion_ros.cli", "launch", "--set", f"novel_view.model_file_path={tiny_checkpoint}",
               "--set", "novel_view.engine=torch", "--set", "novel_view.device=cpu", "--set", "view_buffer.max_views=4",
               "--set", "novel_view.max_views=4"]
    if rgbd:
        command += ["--rgbd", "--set", f"rgbd_completion.model_file_path={tiny_checkpoint}", "--set",
                    "rgbd_completion.engine=torch", "--set", "rgbd_completion.device=cpu"]
    if video:
        command += ["--video", *(f"--set=video_synthesis.{name}" for name in (
            f"model_file_path={tiny_checkpoint}", f"temporal_model_file_path={temporal_checkpoint}", "engine=torch",
            "device=cpu"))]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if ctrl_c_after in line or not line:
                break
        assert ctrl_c_after in lines[-1], "".join(lines)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, "".join(lines) + output
    assert "Traceback" not in output


def stand_in_launch(arguments: dict[str, str], environ: dict[str, str] | None = None) -> dict:
    """What the launch file would start, built against stand-ins of launch / launch_ros in a fresh process."""
    import json

    env = {k: v for k, v in os.environ.items() if k not in (*PROFILE_VARIABLES, "FASTDDS_BUILTIN_TRANSPORTS",
                                                             "RMW_IMPLEMENTATION", "ROS_DISTRO")}
    env.update(environ or {}, PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, str(ROOT / "test" / "launch_stand_ins.py"), str(ROOT), json.dumps(arguments)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_launch_description_starts_each_node_with_its_parameters_and_profile_without_loading_a_model() -> None:
    """Where ros2 launch cannot run: every node, remap, parameter and environment variable the launch file would
    start, with stand-ins for launch and launch_ros; the launch process imports neither torch nor rclpy."""
    config, profile = str(ROOT / "config" / "viewfusion.yaml"), str(ROOT / "config" / DDS_PROFILE_NAME)
    dds = {"FASTDDS_DEFAULT_PROFILES_FILE": profile}  # no ROS_DISTRO: Kilted's Fast DDS 3
    plain = stand_in_launch({})
    assert plain["imported"] == []  # no torch, Open3D, ONNX Runtime or rclpy in the launch process
    assert plain["nodes"] == [
        {"package": "nvs_fusion_ros", "executable": name, "name": name, "namespace": "", "parameters": [config],
         "output": "screen", "additional_env": dds} for name in ("view_buffer", "novel_view")]  # no remappings
    assert plain["declared"]["sampler"]["choices"][1:] == list(SAMPLERS)
    assert plain["declared"]["engine"]["choices"][1:] == list(ENGINES)

    full = stand_in_launch({"rgbd": "true", "rviz": "true", "namespace": "robot1", "image_topic": "/arm/color",
                            "engine": "onnxruntime", "sampler": "dpmpp2m", "rgbd_model_file_path": "/m/household.pt",
                            "video": "true"})
    assert full["imported"] == []
    by_name = {node.get("name", node["executable"]): node for node in full["nodes"]}
    assert set(by_name) == {"view_buffer", "novel_view", "rgbd_completion", "video_synthesis", "rviz2"}
    assert all("remappings" not in node and node["additional_env"] == dds for node in full["nodes"])
    assert by_name["view_buffer"]["parameters"] == [config, {"image_topics": ["/arm/color"], "mask_topic":
                                                             "rgbd_completion/mask", "roi_topic": "rgbd_completion/roi"}]
    assert by_name["novel_view"]["parameters"] == [config, {"engine": "onnxruntime", "sampler": "dpmpp2m"}]
    assert by_name["rgbd_completion"]["parameters"] == [config, {"engine": "onnxruntime", "model_file_path":
                                                                 "/m/household.pt", "colour_topic": "/arm/color"}]
    assert by_name["video_synthesis"]["parameters"] == [config, {"engine": "onnxruntime", "frames_topic": "/arm/color"}]
    assert {node["namespace"] for node in full["nodes"] if node["package"] == "nvs_fusion_ros"} == {"robot1"}
    assert by_name["rviz2"]["arguments"][0] == "-d" and by_name["rviz2"]["arguments"][1].endswith("viewfusion.rviz")

    own = stand_in_launch({}, {"FASTDDS_DEFAULT_PROFILES_FILE": "/etc/my_profile.xml"})
    assert all(node["additional_env"] is None for node in own["nodes"])  # the user's own profile is kept
    cyclone = stand_in_launch({}, {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"})
    assert all(node["additional_env"] is None for node in cyclone["nodes"])


def test_dds_environment_sets_the_shipped_profile_only_where_the_user_chose_nothing() -> None:
    assert dds_environment({}, "/p.xml") == {"FASTDDS_DEFAULT_PROFILES_FILE": "/p.xml"}  # pip install: Kilted on
    assert dds_environment({"ROS_DISTRO": "kilted"}, "/p.xml") == {"FASTDDS_DEFAULT_PROFILES_FILE": "/p.xml"}
    for distro in ("humble", "jazzy"):  # Fast DDS 2.x reads the older name only
        assert dds_environment({"ROS_DISTRO": distro}, "/p.xml") == {"FASTRTPS_DEFAULT_PROFILES_FILE": "/p.xml"}
    assert dds_environment({"RMW_IMPLEMENTATION": "rmw_fastrtps_dynamic_cpp"}, "/p.xml")
    for own in ({"FASTRTPS_DEFAULT_PROFILES_FILE": "/mine.xml"}, {"FASTDDS_DEFAULT_PROFILES_FILE": "/mine.xml"},
                {"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"}, {"RMW_IMPLEMENTATION": "rmw_zenoh_cpp"}):
        assert dds_environment(own, "/p.xml") == {}, own
    profile = ElementTree.parse(default_config_path(DDS_PROFILE_NAME)).getroot()
    namespace = "{http://www.eprosima.com}"
    (segment,) = profile.iter(f"{namespace}segment_size")
    assert int(segment.text) >= 4 * 1280 * 720 * 3  # several 1280x720 rgb8 images fit in one shared-memory segment


def test_the_registries_the_launch_file_offers_import_without_torch() -> None:
    code = ("import sys; from nvs_fusion_ros.engines.options import ENGINES; "
            "from nvs_fusion_ros.diffusion import SAMPLER_NAMES; "
            "from nvs_fusion_ros.ros.launch_choices import CHOICES; from nvs_fusion_ros.ros.bringup import rgbd_feed; "
            "rgbd_feed({}); print(sorted(m for m in ('torch', 'rclpy', 'open3d') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stdout.strip() == "[]"
    from nvs_fusion_ros.diffusion import SAMPLER_NAMES
    from nvs_fusion_ros.ros.launch_choices import CHOICES
    from nvs_fusion_ros.ros.novel_view_params import PARAMETERS

    assert list(SAMPLER_NAMES) == list(SAMPLERS)  # the names and the registry agree
    for spec in PARAMETERS:
        if spec.name in CHOICES:
            assert spec.choices == CHOICES[spec.name], spec.name
