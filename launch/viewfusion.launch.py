"""Start view_buffer and novel_view with config/viewfusion.yaml (and optionally RViz, rgbd_completion, video_synthesis).

    ros2 launch nvs_fusion_ros viewfusion.launch.py image_topic:=/camera/color/image_raw \
        engine:=tensorrt model_file_path:=/path/model.pt namespace:=robot1 rviz:=true fixed_frame:=base_link

Every argument left empty keeps the params file's value, so editing the yaml is never undone
by a launch default. ``image_topic`` sets view_buffer's ``image_topics`` to that one topic (and
video_synthesis's ``frames_topic``, rgbd_completion's ``colour_topic``). ``engine`` and ``sampler`` offer the
registries' names (``ros.launch_choices``: read without torch; the launch process loads no model).
``rviz:=true`` starts RViz on the shipped layout with every topic under ``namespace``
and ``fixed_frame`` as the fixed frame (``nvs_fusion_ros.ros.rviz_config``).
``rgbd:=true`` also starts ``rgbd_completion`` (RGB-D object selection and metric completion; opt-in,
it loads a second model) with the config's ``rgbd_completion`` section, and feeds ``view_buffer``
from it: its colour topic (or ``image_topic``), ``rgbd_completion/mask`` and ``rgbd_completion/roi``
(``bringup.rgbd_feed``, shared with ``nvs-fusion launch --rgbd``). ``engine`` applies to it too;
its checkpoint is ``rgbd_model_file_path``, not ``model_file_path``: the two nodes default to different
models (``rgbd_completion`` composes the camera-relative household model), so one path for both
would silently hand one node the other's model.
``video:=true`` also starts ``video_synthesis`` (a moving object's clip from other azimuths; opt-in, it loads the
view model and a temporal model) with the config's ``video_synthesis`` section; ``engine`` and ``model_file_path``
(the view model, as novel_view's) apply to it too.

``novel_view``'s ``target_angle`` (and ``target_angles``) is measured from the newest key view (by
header stamp) for a camera-relative model (checkpoint ``angle_reference: relative``), in the
object's canonical frame for a canonical one; the node logs which at start.
Under Fast DDS every process started here loads ``config/fastdds_large_images.xml`` (camera-sized images through
shared memory in one piece; the variable ``ROS_DISTRO``'s Fast DDS reads) unless ``FASTDDS_DEFAULT_PROFILES_FILE``
/ ``FASTRTPS_DEFAULT_PROFILES_FILE`` / ``FASTDDS_BUILTIN_TRANSPORTS`` is set or ``RMW_IMPLEMENTATION`` names
another middleware (``bringup.dds_environment``).
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
NOVEL_VIEW_ARGUMENTS = ("engine", "sampler", "model_file_path")
#: launch argument -> the rgbd_completion parameter it overrides when non-empty
RGBD_ARGUMENTS = {"engine": "engine", "rgbd_model_file_path": "model_file_path"}
#: video_synthesis parameters that a non-empty launch argument of the same name overrides
VIDEO_ARGUMENTS = ("engine", "model_file_path")
TRUE = ("true", "True", "1")
#: every launch argument the description reads (each must be declared: test_launch_file checks)
ARGUMENT_NAMES = ("config", "namespace", "image_topic", "rviz", "fixed_frame", "rgbd", "rgbd_model_file_path", "video",
                  *NOVEL_VIEW_ARGUMENTS)

Overrides = dict[str, object]


def parameter_overrides(values: dict[str, str], rgbd_config: dict[str, object] | None = None
                        ) -> tuple[Overrides, Overrides, Overrides, Overrides]:
    """(view_buffer, novel_view, rgbd_completion, video_synthesis) parameter overrides from the launch arguments'
    values; '' = keep the yaml's. ``rgbd_config``: the config's rgbd_completion section, read when ``rgbd`` is true."""
    from nvs_fusion_ros.ros.bringup import rgbd_feed

    buffer: Overrides = {}
    novel_view: Overrides = {name: values[name] for name in NOVEL_VIEW_ARGUMENTS if values.get(name)}
    rgbd: Overrides = {parameter: values[name] for name, parameter in RGBD_ARGUMENTS.items() if values.get(name)}
    video: Overrides = {name: values[name] for name in VIDEO_ARGUMENTS if values.get(name)}
    if values.get("image_topic"):
        buffer["image_topics"] = [values["image_topic"]]
        video["frames_topic"] = rgbd["colour_topic"] = values["image_topic"]
    if values.get("rgbd") in TRUE:
        buffer.update(rgbd_feed({**(rgbd_config or {}), **rgbd}))
    return buffer, novel_view, rgbd, video


def choices(parameter: str) -> list[str]:
    """'' (keep the yaml's value) and the node's accepted values, from the registries (no torch)."""
    from nvs_fusion_ros.ros.launch_choices import CHOICES

    return ["", *CHOICES[parameter]]


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
                              description="camera image topic; '' = the config's image_topics, frames_topic and "
                                          "colour_topic"),
        DeclareLaunchArgument("engine", default_value="", choices=choices("engine"),
                              description="inference engine of novel_view; '' = the config's"),
        DeclareLaunchArgument("sampler", default_value="", choices=choices("sampler"),
                              description="sampler of novel_view; '' = the config's"),
        DeclareLaunchArgument("model_file_path", default_value="",
                              description="novel_view's (and video_synthesis's) checkpoint; '' = the config's. Its "
                                          "target_angle is relative to the newest key view for a relative-mode model, "
                                          "canonical otherwise"),
        DeclareLaunchArgument("rgbd_model_file_path", default_value="",
                              description="rgbd_completion's checkpoint (with rgbd:=true); '' = the config's "
                                          "(default: the shipped camera-relative household model)"),
        DeclareLaunchArgument("video", default_value="false",
                              description="also start video_synthesis (a moving object's clip from other azimuths on "
                                          "~/synthesize_video; loads a temporal model too)"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the nodes (and RViz's topics)"),
        DeclareLaunchArgument("rviz", default_value="false", description="also start RViz on config/viewfusion.rviz"),
        DeclareLaunchArgument("rgbd", default_value="false",
                              description="also start rgbd_completion (a second model) and feed view_buffer its "
                                          "colour topic, rgbd_completion/mask and rgbd_completion/roi"),
        DeclareLaunchArgument("fixed_frame", default_value="base_link",
                              description="RViz fixed frame: a TF frame that exists (the camera's frame shows "
                                          "rgbd_completion's metric output; <camera frame>_nvs_object shows the "
                                          "unit-less ~/points and ~/mesh)"),
    ]

    def nodes(context: LaunchContext) -> list[NodeAction]:
        from nvs_fusion_ros.ros.bringup import DDS_PROFILE_NAME, RGBD_NODE, VIDEO_NODE, dds_environment, load_parameters

        values = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENT_NAMES}
        started = {RGBD_NODE: values["rgbd"] in TRUE, VIDEO_NODE: values["video"] in TRUE}
        rgbd_config = (load_parameters(values["config"], values["namespace"], rgbd=True)[RGBD_NODE]
                       if started[RGBD_NODE] else None)
        buffer, novel_view, rgbd, video = parameter_overrides(values, rgbd_config)
        environment = dds_environment(os.environ, os.path.join(share, "config", DDS_PROFILE_NAME)) or None
        actions = [
            Node(package=PACKAGE, executable=name, name=name, namespace=values["namespace"],
                 parameters=[values["config"], *([overrides] if overrides else [])], output="screen",
                 additional_env=environment)
            for name, overrides in (("view_buffer", buffer), ("novel_view", novel_view), (RGBD_NODE, rgbd),
                                    (VIDEO_NODE, video))
            if started.get(name, True)
        ]
        if values["rviz"] in TRUE:
            from nvs_fusion_ros.ros.rviz_config import write_adapted

            layout = write_adapted(os.path.join(share, "config", "viewfusion.rviz"), values["namespace"],
                                   values["fixed_frame"])
            actions.append(Node(package="rviz2", executable="rviz2", arguments=["-d", str(layout)], output="screen",
                                additional_env=environment))
        return actions

    return LaunchDescription([*arguments, OpaqueFunction(function=nodes)])
