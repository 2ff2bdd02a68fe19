"""Start view_buffer and novel_view with config/viewfusion.yaml (and optionally RViz).

    ros2 launch nvs_fusion_ros viewfusion.launch.py image_topic:=/camera/color/image_raw \
        engine:=tensorrt model_file_path:=/path/model.pt namespace:=robot1 rviz:=true

Launch arguments override the yaml: ``engine``, ``model_file_path`` and ``mode`` are set on
novel_view; ``image_topic`` remaps view_buffer's default input ``/camera/image_raw`` and is
novel_view's ``frames_topic`` (the stream of a moving object in ``mode:=dynamic``).
Works with ROS 2 Humble, Jazzy and Kilted (launch_ros.actions.Node, ParameterValue).
"""

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription

PACKAGE = "nvs_fusion_ros"


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    config = LaunchConfiguration("config")
    namespace = LaunchConfiguration("namespace")
    arguments = [
        DeclareLaunchArgument("config", default_value=PathJoinSubstitution([share, "config", "viewfusion.yaml"]),
                              description="ROS 2 params file for both nodes"),
        DeclareLaunchArgument("image_topic", default_value="/camera/image_raw", description="camera image topic"),
        DeclareLaunchArgument("engine", default_value="auto", choices=["auto", "tensorrt", "onnxruntime", "torch"],
                              description="inference engine of novel_view"),
        DeclareLaunchArgument("model_file_path", default_value="", description="checkpoint; empty = shipped model"),
        DeclareLaunchArgument("mode", default_value="static", choices=["static", "dynamic"],
                              description="novel_view mode; dynamic adds ~/synthesize_video and ~/video"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of both nodes"),
        DeclareLaunchArgument("rviz", default_value="false", description="also start RViz with config/viewfusion.rviz"),
    ]
    view_buffer = Node(
        package=PACKAGE,
        executable="view_buffer",
        name="view_buffer",
        namespace=namespace,
        parameters=[config],
        remappings=[("/camera/image_raw", LaunchConfiguration("image_topic"))],
        output="screen",
    )
    novel_view = Node(
        package=PACKAGE,
        executable="novel_view",
        name="novel_view",
        namespace=namespace,
        parameters=[
            config,
            {
                "engine": ParameterValue(LaunchConfiguration("engine"), value_type=str),
                "model_file_path": ParameterValue(LaunchConfiguration("model_file_path"), value_type=str),
                "mode": ParameterValue(LaunchConfiguration("mode"), value_type=str),
                "frames_topic": ParameterValue(LaunchConfiguration("image_topic"), value_type=str),
            },
        ],
        output="screen",
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        arguments=["-d", PathJoinSubstitution([share, "config", "viewfusion.rviz"])],
        condition=IfCondition(LaunchConfiguration("rviz")),
        output="screen",
    )
    return LaunchDescription([*arguments, view_buffer, novel_view, rviz])
