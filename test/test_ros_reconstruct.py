"""``novel_view``'s ``~/reconstruct`` over real rclpy + Fast DDS: points, mesh, files, refusals, an empty field.

The node gets pose-free views of an analytic red sphere straight on ``views`` and runs the
real distillation with the tiny random model. With a fixed seed the run is deterministic:
30 iterations (orbit fitting only, to stay fast on a CPU; mode seeking is covered by
test_reconstruction) at ``reconstruction_surface_threshold`` 0.01 make a surface of ~1000 triangles
(checked for seeds 3-5); after one iteration from the field's initialisation (voxel opacity
0.003) no voxel reaches the default level 0.1, which is the empty-field path.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from message_readers import read_point_cloud2, read_triangle_marker
from ros_testing import Ros, wait_for
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import Float32, Header
from std_srvs.srv import Trigger
from test_reconstruction import analytic_sphere_view
from test_ros_nodes import publisher_to
from visualization_msgs.msg import Marker

from nvs_fusion_ros.diffusion.stepwise import Stepwise
from nvs_fusion_ros.reconstruction.distill import orbit_camera
from nvs_fusion_ros.reconstruction.field import DEFAULT_HALF_EXTENT
from nvs_fusion_ros.ros import novel_view_jobs
from nvs_fusion_ros.ros.image_conversions import numpy_to_image, stamp_ns
from nvs_fusion_ros.ros.novel_view_node import NovelViewNode
from nvs_fusion_ros.ros.qos import latched_qos, output_qos
from nvs_fusion_ros.synthesis.worker import JobCancelled, JobControl

FAST = {"steps": 2, "reconstruction_grid": 12, "reconstruction_orbit_views": 3, "reconstruction_points": 200,
        "max_views": 2, "seed": 3}  # two views fill max_views: the orbit then conditions on the inputs only


@pytest.fixture
def ros(tiny_checkpoint: Path) -> Iterator[Ros]:
    harness = Ros(tiny_checkpoint)
    yield harness
    harness.close()


def send_sphere_views(ros: Ros, node: NovelViewNode) -> None:
    """Two views of the red sphere (0° and 90°) on ``views``, as view_buffer would latch them."""
    views = publisher_to(ros, "views", latched_qos(2))
    for i, azimuth in enumerate((0.0, math.pi / 2)):
        header = Header(frame_id="cam")
        header.stamp.sec = 10 + i
        views.publish(numpy_to_image(analytic_sphere_view(orbit_camera(azimuth, 16)), "rgb8", header))
    wait_for(lambda: len(node.views) == 2, what="two views at novel_view")


def call(ros: Ros, client: object) -> Trigger.Response:
    future = client.call_async(Trigger.Request())
    wait_for(future.done, what="the service's answer")
    return future.result()


def reconstruction_status(array: DiagnosticArray) -> DiagnosticStatus:
    (status,) = [s for s in array.status if s.name.endswith("3D reconstruction")]
    return status


@pytest.mark.ros
def test_reconstruct_publishes_points_and_mesh_stamped_like_the_request(ros: Ros, tmp_path: Path) -> None:
    node = ros.novel_view(**FAST, reconstruction_iterations=30, reconstruction_mode_seeking=False,
                          reconstruction_surface_threshold=0.01, reconstruction_output_dir=str(tmp_path))
    points, meshes = ros.collect(PointCloud2, "/novel_view/points"), ros.collect(Marker, "/novel_view/mesh")
    images = ros.collect(Image, "/novel_view/image")
    diagnostics = ros.diagnostics()
    send_sphere_views(ros, node)
    angle = ros.probe.create_publisher(Float32, "target_angle", output_qos(10))
    wait_for(lambda: angle.get_subscription_count() == 1, what="novel_view on target_angle")
    client = ros.probe.create_client(Trigger, "/novel_view/reconstruct")
    assert client.wait_for_service(timeout_sec=10)

    sent = ros.probe.get_clock().now().nanoseconds
    answer = call(ros, client)
    assert answer.success, answer.message
    again = call(ros, client)  # the first one is still waiting or running
    assert not again.success and "already" in again.message
    angle.publish(Float32(data=1.0))  # waits behind the reconstruction on the one worker thread
    wait_for(lambda: points and meshes, timeout=120, what="~/points and ~/mesh")
    arrived = ros.probe.get_clock().now().nanoseconds
    wait_for(lambda: images, what="the view request queued during the reconstruction")

    cloud, mesh = points[0], meshes[0]
    # unit-less object frame, named for the views' frame ("cam") and never labelled as the camera's own frame
    assert cloud.header == mesh.header and cloud.header.frame_id == "cam_nvs_object"
    stamp = stamp_ns(cloud.header)
    assert sent <= stamp <= arrived
    assert f"{cloud.header.stamp.sec}.{cloud.header.stamp.nanosec:09d}" in answer.message
    assert stamp_ns(images[0].header) > stamp  # the angle request came after the reconstruct call

    xyz, rgb = read_point_cloud2(cloud)
    assert xyz.shape == (200, 3) and rgb.shape == (200, 3) and cloud.is_dense
    bound = DEFAULT_HALF_EXTENT * (1 + 2 / (FAST["reconstruction_grid"] - 1)) + 1e-4  # the cube + marching cubes' padding
    assert np.abs(xyz).max() <= bound
    corners, colors = read_triangle_marker(mesh)
    assert len(corners) > 0 and np.isfinite(corners).all() and np.abs(corners).max() <= bound
    assert np.all(colors[..., 3] == 1.0) and (mesh.scale.x, mesh.scale.y, mesh.scale.z) == (1.0, 1.0, 1.0)
    assert mesh.type == Marker.TRIANGLE_LIST and mesh.action == Marker.ADD

    folder = tmp_path / f"reconstruction_{cloud.header.stamp.sec}_{cloud.header.stamp.nanosec:09d}"
    assert {p.name for p in folder.iterdir()} - {"mesh.glb"} == {"points.ply", "mesh.ply", "mesh.obj"}  # glb: Open3D
    assert all(p.stat().st_size > 0 for p in folder.iterdir())

    # Diagnostics come at 1 Hz, so a fast run may show no progress line at all (the count itself is
    # tested without ROS in test_reconstruction.py); every progress line that did arrive has the format.
    total = 3 * 2 + 30  # orbit views x DDIM steps, then field iterations
    progress = [m for m in (reconstruction_status(d).message for d in diagnostics) if m.startswith("reconstruction: ")]
    assert all(re.fullmatch(rf"reconstruction: (starting|\d+/{total} \((orbit|field)\))", m) for m in progress), progress
    wait_for(lambda: bool(diagnostics)
             and reconstruction_status(diagnostics[-1]).message.startswith("last reconstruction: 200 points"),
             what="the finished reconstruction in diagnostics")
    assert reconstruction_status(diagnostics[-1]).level == DiagnosticStatus.OK
    assert node.worker.failed == 0 and len(points) == 1 and len(meshes) == 1


@pytest.mark.ros
def test_a_reconstruction_cancelled_after_its_fit_writes_no_files(ros: Ros, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A reset that lands between the end of the fit and the publishing: nothing from before it is written after it."""
    node = ros.novel_view(**FAST, reconstruction_iterations=30, reconstruction_mode_seeking=False,
                          reconstruction_surface_threshold=0.01, reconstruction_output_dir=str(tmp_path))
    send_sphere_views(ros, node)
    views, header, request = node._snapshot()
    control = JobControl(threading.Condition())
    real_reconstruct = novel_view_jobs.reconstruct_steps

    def then_reset(*args: object, **kwargs: object) -> Stepwise:
        def steps() -> Iterator:
            result = yield from real_reconstruct(*args, **kwargs)  # the real fit, then a reset arrives
            control.cancel()
            return result

        return Stepwise(steps())

    monkeypatch.setattr(novel_view_jobs, "reconstruct_steps", then_reset, raising=True)
    with pytest.raises(JobCancelled):
        node.jobs.reconstruct(control, views, request, header, received=0.0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.ros
def test_reconstruct_refuses_without_views_and_reports_an_empty_field(ros: Ros) -> None:
    node = ros.novel_view(**FAST, reconstruction_iterations=1)  # one step from the faint initial fog: no surface
    points, meshes = ros.collect(PointCloud2, "/novel_view/points"), ros.collect(Marker, "/novel_view/mesh")
    images = ros.collect(Image, "/novel_view/image")
    diagnostics = ros.diagnostics()
    client = ros.probe.create_client(Trigger, "/novel_view/reconstruct")
    assert client.wait_for_service(timeout_sec=10)
    refused = call(ros, client)
    assert not refused.success and refused.message == "no key views received yet"

    send_sphere_views(ros, node)
    assert call(ros, client).success
    wait_for(lambda: diagnostics and reconstruction_status(diagnostics[-1]).level == DiagnosticStatus.ERROR,
             timeout=60, what="an ERROR reconstruction status")
    message = reconstruction_status(diagnostics[-1]).message
    assert message.startswith("reconstruction failed: the field is empty"), message
    assert node.worker.failed == 1 and "empty" in node.worker.last_error

    angle = ros.probe.create_publisher(Float32, "target_angle", output_qos(10))
    wait_for(lambda: angle.get_subscription_count() == 1, what="novel_view on target_angle")
    angle.publish(Float32(data=2.0))
    wait_for(lambda: images, what="a synthesized view after the failed reconstruction")
    wait_for(node.worker.idle, what="the worker to finish")
    # A reconstruction publishes only when it succeeds: one failed job and one done (the view) mean nothing half-made
    assert (node.worker.failed, node.worker.done) == (1, 1) and not points and not meshes
    assert call(ros, client).success  # and the node takes the next reconstruction
    wait_for(lambda: node.worker.failed == 2, timeout=60, what="the second empty reconstruction to end")


def test_the_reconstruction_frame_is_the_views_frame_with_a_suffix_unless_configured() -> None:
    from nvs_fusion_ros.ros.novel_view_params import object_frame

    assert object_frame("camera_color_optical_frame") == "camera_color_optical_frame_nvs_object"
    assert object_frame("") == "camera_nvs_object"  # a camera that sends no frame_id
    assert object_frame("cam", "object") == "object"  # the user's own frame, as configured
