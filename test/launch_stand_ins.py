"""Run launch/viewfusion.launch.py against stand-ins of ``launch`` and ``launch_ros`` and print what it would start.

``ros2 launch`` cannot run where launch and launch_ros are not installable (pip-only ROS). This script, run as its own
process so nothing else is imported, puts minimal stand-ins of the classes the launch file uses in ``sys.modules``,
builds the description, sets the declared defaults and then the arguments given as JSON (argv[2]), evaluates the
OpaqueFunction and prints one JSON object: each node's package, executable, name, namespace, parameters, remappings,
extra environment and arguments, the declared arguments, and which heavy modules the launch process imported.

    python test/launch_stand_ins.py <share directory> '{"rgbd": "true"}'
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path


class DeclareLaunchArgument:
    def __init__(self, name: str, default_value: str = "", description: str = "", choices: list[str] | None = None):
        self.name, self.default_value, self.description, self.choices = name, default_value, description, choices


class OpaqueFunction:
    def __init__(self, function: object):
        self.function = function


class LaunchConfiguration:
    def __init__(self, name: str):
        self.name = name

    def perform(self, context: LaunchContext) -> str:
        return context.launch_configurations[self.name]


class LaunchContext:
    def __init__(self) -> None:
        self.launch_configurations: dict[str, str] = {}


class LaunchDescription:
    def __init__(self, entities: list[object]):
        self.entities = entities


NODE_KEYWORDS = {"package", "executable", "name", "namespace", "parameters", "remappings", "arguments", "output",
                 "additional_env"}  # launch_ros.actions.Node and ExecuteProcess keywords the stand-in accepts


class Node:
    def __init__(self, **kwargs: object):
        unknown = set(kwargs) - NODE_KEYWORDS
        if unknown:
            raise TypeError(f"unexpected keywords {sorted(unknown)}")
        self.kwargs = kwargs


def install(share: str) -> None:
    modules = {
        "launch": {"LaunchDescription": LaunchDescription, "LaunchContext": LaunchContext},
        "launch.actions": {"DeclareLaunchArgument": DeclareLaunchArgument, "OpaqueFunction": OpaqueFunction},
        "launch.substitutions": {"LaunchConfiguration": LaunchConfiguration},
        "launch.launch_context": {"LaunchContext": LaunchContext},
        "launch_ros": {},
        "launch_ros.actions": {"Node": Node},
        "ament_index_python": {},
        "ament_index_python.packages": {"get_package_share_directory": lambda package: share},
    }
    for name, attributes in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        sys.modules[name] = module


def main() -> None:
    share, arguments = sys.argv[1], json.loads(sys.argv[2])
    install(share)
    import importlib.util

    spec = importlib.util.spec_from_file_location("viewfusion_launch", Path(share) / "launch" / "viewfusion.launch.py")
    launch_file = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch_file)
    description = launch_file.generate_launch_description()
    context = LaunchContext()
    declared = [e for e in description.entities if isinstance(e, DeclareLaunchArgument)]
    context.launch_configurations.update({a.name: a.default_value for a in declared})
    unknown = set(arguments) - set(context.launch_configurations)
    if unknown:
        raise SystemExit(f"undeclared launch arguments {sorted(unknown)}")
    context.launch_configurations.update(arguments)
    (function,) = [e for e in description.entities if isinstance(e, OpaqueFunction)]
    nodes = [action.kwargs for action in function.function(context)]
    print(json.dumps({
        "nodes": nodes,
        "declared": {a.name: {"default": a.default_value, "choices": a.choices} for a in declared},
        "imported": sorted(name for name in ("torch", "open3d", "onnxruntime", "rclpy") if name in sys.modules),
    }, default=str))


if __name__ == "__main__":
    main()
