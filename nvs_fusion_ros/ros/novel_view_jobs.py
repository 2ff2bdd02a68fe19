"""``novel_view``'s jobs: what each request kind runs on the worker thread, and how its result is published.

Each job gets the views, the ``Request`` snapshot and the header that were fixed when the
request arrived, and its ``JobControl``: a job drives the library's step-by-step calls
(``synthesize_steps``, ``orbit_steps``, ``reconstruct_steps``, the video's ``synthesize_steps``) and
calls ``control.check`` between steps, so a reset or a shutdown cancels the job at the next
denoising step or field iteration, and every publish happens inside ``control.delivering()``,
so nothing from before a reset is published after it (``synthesis.worker``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from ..reconstruction.pipeline import reconstruct_steps, write_files
from ..synthesis.synthesizer import NovelViewSynthesizer
from ..synthesis.worker import JobControl
from .cloud_messages import point_cloud2, triangle_marker
from .image_conversions import numpy_to_image
from .node_base import NodeBase
from .novel_view_params import Request

RECONSTRUCT = "reconstruct"  # the worker's job kind of a reconstruction
IMAGE_OUTPUTS = ("image", "mean", "hypotheses", "weights", "uncertainty", "orbit")


def tile(images: Sequence[np.ndarray]) -> np.ndarray:
    """Square images side by side: tile i is columns [i*S, (i+1)*S) (the ~/hypotheses and ~/weights layout)."""
    return np.concatenate(list(images), axis=1)


def untile(image: np.ndarray) -> list[np.ndarray]:
    """The square tiles of a ``tile`` image, left to right."""
    size = image.shape[0]
    if image.shape[1] % size:
        raise ValueError(f"a {image.shape[1]}x{size} image is not a row of {size}x{size} tiles")
    return [image[:, i * size : (i + 1) * size] for i in range(image.shape[1] // size)]


class NovelViewJobs:
    """The output publishers and one method per job kind; ``reconstruction`` is the (level, message) for diagnostics."""

    def __init__(self, node: NodeBase, synthesizer: NovelViewSynthesizer, depth: int):
        self.synthesizer = synthesizer
        self.images = {name: node.output(Image, f"~/{name}", depth) for name in IMAGE_OUTPUTS}
        self.points = node.output(PointCloud2, "~/points", depth)
        self.mesh = node.output(Marker, "~/mesh", depth)
        self.last_latency_s = float("nan")
        self.reconstruction = (DiagnosticStatus.OK, "no reconstruction yet")

    def synthesize(self, control: JobControl, views: Sequence[np.ndarray], angle: float, request: Request,
                   header: Header, received: float) -> None:
        run = self.synthesizer.synthesize_steps(views, [angle], request.num_hypotheses, request.spec())
        for state in run:
            control.check(state.done, state.total)
        [result] = run.result
        messages = [("image", numpy_to_image(result.images[0], "rgb8", header)),
                    ("mean", numpy_to_image(result.mean, "rgb8", header)),
                    ("hypotheses", numpy_to_image(tile(result.images), "rgb8", header)),
                    ("weights", numpy_to_image(tile(result.weights), "32FC1", header)),
                    ("uncertainty", numpy_to_image(result.uncertainty, "32FC1", header))]
        with control.delivering():
            for name, msg in messages:
                self.images[name].publish(msg)
            self.last_latency_s = time.monotonic() - received

    def orbit(self, control: JobControl, views: Sequence[np.ndarray], request: Request, header: Header,
              received: float) -> None:
        # A full set leaves no room for generated views, so the orbit then conditions on the user views only.
        autoregressive = len(views) < self.synthesizer.max_views
        run = self.synthesizer.orbit_steps(views, request.target_angles, autoregressive, request.spec())
        for state in run:
            control.check(state.done, state.total)
        result = run.result
        messages = [numpy_to_image(image, "rgb8", header) for image in result.images]
        with control.delivering():
            for msg in messages:
                self.images["orbit"].publish(msg)
            self.last_latency_s = time.monotonic() - received

    def reconstruct(self, control: JobControl, views: Sequence[np.ndarray], request: Request, header: Header,
                    received: float) -> None:
        folder = None
        if request.output_dir:
            folder = Path(request.output_dir) / f"reconstruction_{header.stamp.sec}_{header.stamp.nanosec:09d}"
        self.reconstruction = (DiagnosticStatus.OK, "reconstruction: starting")
        # EmptySurfaceError: reported by the node's on_error, nothing is published
        run = reconstruct_steps(self.synthesizer, views, request.distill, request.surface_threshold, request.points)
        for state in run:
            control.check(state.done, state.total)
            self.reconstruction = (DiagnosticStatus.OK, f"reconstruction: {state.done}/{state.total} ({state.stage})")
        result = run.result
        cloud_msg = point_cloud2(result.cloud.points, result.cloud.colors, header)
        mesh_msg = triangle_marker(result.mesh.vertices, result.mesh.faces, result.mesh.colors, header)
        with control.delivering():  # the files too: nothing from before a reset is written after it
            if folder is not None:
                result.files = write_files(folder, result.mesh, result.cloud)
            self.points.publish(cloud_msg)
            self.mesh.publish(mesh_msg)
            self.last_latency_s = time.monotonic() - received
        summary = f"{len(result.cloud.points)} points, {len(result.mesh.faces)} triangles in {self.last_latency_s:.1f} s"
        if folder is not None:
            summary += f", written to {folder}"
        self.reconstruction = (DiagnosticStatus.OK, f"last reconstruction: {summary}")

    def reconstruction_failed(self, reason: str) -> None:
        self.reconstruction = (DiagnosticStatus.ERROR, f"reconstruction failed: {reason}")

    def reconstruction_cancelled(self) -> None:
        self.reconstruction = (DiagnosticStatus.OK, "reconstruction cancelled by reset")
