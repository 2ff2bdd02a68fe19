"""Start view_buffer and novel_view with config/viewfusion.yaml (and optionally RViz).

    ros2 launch nvs_fusion_ros viewfusion.launch.py image_topic:=/camera/color/image_raw \
        engine:=tensorrt model_file_path:=/path/model.pt namespace:=robot1 rviz:=true fixed_frame:=base_link

Every argument left empty keeps the params file's value, so editing the yaml is never undone
by a launch default. ``image_topic`` sets view_buffer's ``image_topics`` to that one topic and
novel_view's ``frames_topic`` (dynamic mode). ``engine`` and ``sampler`` offer the registries'
names (``engines.options`` and ``diffusion.samplers.SAMPLERS``, through the node's parameter
table). ``rviz:=true`` starts RViz on the shipped layout with every topic under ``namespace``
and ``fixed_frame`` as the fixed frame (``nvs_fusion_ros.ros.rviz_config``).
Works with ROS 2 Humble, Jazzy and Kilted (OpaqueFunction, launch_ros.actions.Node).

The mapping from arguments to parameters (``parameter_overrides``) is plain Python, so a
machine without ``launch`` can still test it; ``launch`` is imported only to build the description.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # launch is imported only when a description is built
    from launch.launch_context import LaunchContext
    from launch_ros.actions import Node as NodeAction

    from launch import LaunchDescription

PACKAGE = "nvs_fusion_ros"
#: novel_view parameters that a non-empty launch argument of the same name overrides
NOVEL_VIEW_ARGUMENTS = ("engine", "sampler", "model_file_path", "mode")
TRUE = ("true", "True", "1")
#: every launch argument the description reads (each must be declared: test_launch_file checks)
ARGUMENT_NAMES = ("config", "namespace", "image_topic", "rviz", "fixed_frame", *NOVEL_VIEW_ARGUMENTS)


def parameter_overrides(values: dict[str, str]) -> tuple[dict[str, object], dict[str, object]]:
    """(view_buffer, novel_view) parameter overrides from the launch arguments' values; '' = keep the yaml's."""
    buffer: dict[str, object] = {}
    novel_view: dict[str, object] = {name: values[name] for name in NOVEL_VIEW_ARGUMENTS if values.get(name)}
    if values.get("image_topic"):
        buffer["image_topics"] = [values["image_topic"]]
        novel_view["frames_topic"] = values["image_topic"]
    return buffer, novel_view


def choices(parameter: str) -> list[str]:
    """'' (keep the yaml's value) and the node's accepted values, from its parameter table."""
    from nvs_fusion_ros.ros.novel_view_params import PARAMETERS

    (spec,) = [spec for spec in PARAMETERS if spec.name == parameter]
    return ["", *spec.choices]


def generate_launch_description() -> LaunchDescription:
    import os

    from ament_index_python.packages import get_package_share_directory
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    from launch import LaunchDescription

    share = get_package_share_directory(PACKAGE)
    arguments = [
        DeclareLaunchArgument("config", default_value=os.path.join(share, "config", "viewfusion.yaml"),
                              description="ROS 2 params file for both nodes"),
        DeclareLaunchArgument("image_topic", default_value="",
                              description="camera image topic; '' = the config's image_topics and frames_topic"),
        DeclareLaunchArgument("engine", default_value="", choices=choices("engine"),
                              description="inference engine of novel_view; '' = the config's"),
        DeclareLaunchArgument("sampler", default_value="", choices=choices("sampler"),
                              description="sampler of novel_view; '' = the config's"),
        DeclareLaunchArgument("model_file_path", default_value="", description="checkpoint; '' = the config's"),
        DeclareLaunchArgument("mode", default_value="", choices=choices("mode"),
                              description="novel_view mode (dynamic adds ~/synthesize_video and ~/video); '' = the config's"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of both nodes (and RViz's topics)"),
        DeclareLaunchArgument("rviz", default_value="false", description="also start RViz on config/viewfusion.rviz"),
        DeclareLaunchArgument("fixed_frame", default_value="base_link",
                              description="RViz fixed frame: a TF frame that exists, e.g. the frame of ~/points"),
    ]

    def nodes(context: LaunchContext) -> list[NodeAction]:
        values = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENT_NAMES}
        buffer, novel_view = parameter_overrides(values)
        actions = [
            Node(package=PACKAGE, executable=name, name=name, namespace=values["namespace"],
                 parameters=[values["config"], *([overrides] if overrides else [])], output="screen")
            for name, overrides in (("view_buffer", buffer), ("novel_view", novel_view))
        ]
        if values["rviz"] in TRUE:
            from nvs_fusion_ros.ros.rviz_config import write_adapted

            layout = write_adapted(os.path.join(share, "config", "viewfusion.rviz"), values["namespace"],
                                   values["fixed_frame"])
            actions.append(Node(package="rviz2", executable="rviz2", arguments=["-d", str(layout)], output="screen"))
        return actions

    return LaunchDescription([*arguments, OpaqueFunction(function=nodes)])
