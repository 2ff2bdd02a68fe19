"""A camera driver in its own process (benchmarks/camera_stream.py publish) streams 640x480 colour + aligned depth +
CameraInfo at 30 Hz to view_buffer and rgbd_completion, started from the shipped config as ``rgbd:=true`` starts them.

Each case counts, by the nodes' own counters, the frames that arrived against the frames the driver published: at
least 95 % must reach both nodes, for a RELIABLE history-1 driver (realsense-ros' default QoS) and for a BEST_EFFORT
one, each with the shipped Fast DDS profile exported for the driver (docs/troubleshooting.md: the shared-memory segment
that carries a frame is the publisher's). 5 s per case here; benchmarks/camera_stream.py measures 20 s, 1280x720 and
the drivers without the profile.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ros_testing import next_domain

from nvs_fusion_ros.ros.bringup import default_config_path, load_parameters
from nvs_fusion_ros.ros.harness import RosSession
from nvs_fusion_ros.ros.parameters import overrides
from nvs_fusion_ros.ros.rgbd_node import PARAMETERS as RGBD_PARAMETERS
from nvs_fusion_ros.ros.rgbd_node import RgbdCompletionNode
from nvs_fusion_ros.ros.view_buffer_node import PARAMETERS as BUFFER_PARAMETERS
from nvs_fusion_ros.ros.view_buffer_node import ViewBufferNode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import camera_stream

pytestmark = pytest.mark.ros
SECONDS = 5.0


@pytest.mark.parametrize(("reliability", "qos_depth"), [("reliable", 1), ("best_effort", 5)])
def test_frames_from_a_driver_process_reach_both_nodes(tiny_checkpoint: Path, reliability: str, qos_depth: int) -> None:
    params = load_parameters(default_config_path(), rgbd=True)  # input_qos auto, view_buffer fed by rgbd_completion
    params["rgbd_completion"].update(model_file_path=str(tiny_checkpoint), engine="torch", device="cpu")
    domain = next_domain()
    with RosSession(domain_id=domain) as session:
        buffer = session.add(ViewBufferNode(context=session.context,
                                            parameter_overrides=overrides(BUFFER_PARAMETERS, params["view_buffer"])))
        completion = session.add(RgbdCompletionNode(
            context=session.context, parameter_overrides=overrides(RGBD_PARAMETERS, params["rgbd_completion"])))
        session.start()
        command = camera_stream.publisher_command(640, 480, reliability, qos_depth, SECONDS, 30.0)
        counts = camera_stream.stream_to(buffer, completion, command, camera_stream.publisher_environment(True, domain),
                                         timeout=SECONDS + 120)
    assert counts["published"] == round(SECONDS * 30)
    assert counts["view_buffer"] >= 0.95 * counts["published"], counts
    assert counts["rgbd_completion"] >= 0.95 * counts["published"], counts
    assert counts["view_buffer"] <= counts["published"]  # each frame counted once, however many subscriptions took it
