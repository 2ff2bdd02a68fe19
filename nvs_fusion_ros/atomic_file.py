"""Atomic replacement of files that a crash must not leave half-written or that several processes may write at once.

novel_view and rgbd_completion start together with the same model and can both export,
build or calibrate the same cached engine file; a training run saves its checkpoints every few
minutes and may be killed at any moment. Each writer gets its own temporary name in the
target's folder (so ``replace`` stays a rename on one file system), and the temporary is
removed when the write fails, so no half-written file is left behind or trusted.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path unique to this writer; on success it replaces ``path``, on failure it is removed."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
