"""``novel_view``'s two /diagnostics statuses, built from the worker's counters and the jobs' state."""

from __future__ import annotations

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from std_msgs.msg import Header

from ..synthesis.synthesizer import NovelViewSynthesizer
from ..synthesis.worker import LatestWinsWorker
from .novel_view_jobs import RECONSTRUCT, NovelViewJobs


def diagnostics_array(node_name: str, stamp: Time, synthesizer: NovelViewSynthesizer, worker: LatestWinsWorker,
                      jobs: NovelViewJobs, held: dict[str, str], warnings: list[str]) -> DiagnosticArray:
    """"<node>: novel view synthesis" (WARN with the last error or a peer warning) and "<node>: 3D reconstruction"."""
    state = f"busy: {worker.busy_with}" if worker.busy_with else "idle"
    engine = synthesizer.runner.describe()
    values = {
        "engine": engine,
        "model": str(synthesizer.checkpoint.path),
        "last_latency_s": f"{jobs.last_latency_s:.3f}",
        **held,
        "requests_dropped": str(worker.dropped),
        "requests_done": str(worker.done),
        "requests_failed": str(worker.failed),
        "requests_cancelled": str(worker.cancelled),
        "waiting": ",".join(worker.waiting()),
        "state": state,
        "last_error": worker.last_error,
        "warnings": " | ".join(warnings),
    }
    problems = [f"last error: {worker.last_error}"] if worker.last_error else []
    problems += warnings
    synthesis = DiagnosticStatus(
        level=DiagnosticStatus.WARN if problems else DiagnosticStatus.OK, name=f"{node_name}: novel view synthesis",
        message="; ".join([state, *problems]), hardware_id=engine,
        values=[KeyValue(key=k, value=v) for k, v in values.items()],
    )
    level, message = jobs.reconstruction
    if RECONSTRUCT in worker.waiting():  # a reset may cancel it before it starts, so it is not stored
        level, message = DiagnosticStatus.OK, f"reconstruction: waiting; {message}"
    reconstruction = DiagnosticStatus(level=level, name=f"{node_name}: 3D reconstruction", message=message,
                                      hardware_id=engine)
    return DiagnosticArray(header=Header(stamp=stamp), status=[synthesis, reconstruction])
