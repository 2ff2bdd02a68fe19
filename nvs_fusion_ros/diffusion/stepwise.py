"""``Stepwise``: a long computation its caller drives one step at a time.

The library never takes a progress or cancellation callback. A long call (a reverse process, a
completion, a reconstruction) is a generator that yields a progress value between its steps and
returns its result; the caller iterates it, checking whatever it must between steps (a worker's
cancellation, a tqdm bar, a ROS diagnostics line), and then reads ``result``. Raising inside the
loop abandons the computation at that step. Reading ``result`` without iterating runs it to the end.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Generic, TypeVar

S = TypeVar("S")
R = TypeVar("R")
_PENDING = object()


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` units of a ``stage`` (e.g. "denoise" steps, "field" iterations)."""

    done: int
    total: int
    stage: str = "denoise"


class Stepwise(Generic[S, R]):
    """A generator's steps (``for state in run``) and then its return value (``run.result``); one pass only."""

    def __init__(self, steps: Generator[S, None, R]):
        self._steps = steps
        self._result: object = _PENDING
        self._started = False

    def __iter__(self) -> Generator[S, None, R]:
        """The steps; as a generator it also returns the result, so ``result = yield from run`` nests runs."""
        if self._started:
            raise RuntimeError("a Stepwise computation can be iterated once")
        self._started = True
        result = yield from self._steps
        self._result = result
        return result

    @property
    def result(self) -> R:
        """The return value, running the remaining steps first if the caller has not."""
        if not self._started:
            for _ in self:
                pass
        if self._result is _PENDING:
            raise RuntimeError("the computation was abandoned before it finished")
        return self._result  # type: ignore[return-value]
