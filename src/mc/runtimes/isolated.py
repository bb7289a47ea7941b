"""A model opened in a process of its own, its calls timed there a block at a time.

What a process holds once, two models cannot each hold their own way in it: ExecuTorch's XNNPACK
thread pool is one per process (mc.runtimes.executorch), so one model at two thread counts, or two
programs at different counts, cannot take turns in one process. Each `IsolatedPredictor` opens its
model with the one opener in a fresh worker (`python -m mc.runtimes.isolated`) under that count's
thread limits, and `timed_calls` runs a block of calls there and times it there: mc.timing's
interleaved rounds ask each worker in turn, and the pipe between the processes is outside every
figure. `predict` (warm-up, outputs) and `example_input` go through the pipe; with `workload`,
`sample_shape` and `threads` it stands where an OpenedModel would (mc.recipes.timing).

The worker dies with mc (mc.processes.die_with_parent) and ends when its pipe closes.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from mc.errors import InputError

START_TIMEOUT_S = 300


class IsolatedPredictor:
    """`open_model(spec, target, threads=threads, input_shape=..., shared_cores=True)` in a worker."""

    def __init__(self, spec: str | Path, target: Any, threads: int, input_shape: tuple[int, ...] | None = None):
        from mc.processes import thread_environment
        from mc.processes import die_with_parent

        self.spec = str(spec)
        self.errors = tempfile.TemporaryFile()  # the worker's stderr: its last line says why, should it end
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mc.runtimes.isolated"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.errors, env={**os.environ, **thread_environment(threads)}, preexec_fn=die_with_parent(),
        )
        self._opened: dict[str, Any] | None = None
        self._send(("open", self.spec, target, threads, input_shape))  # answered when first needed: workers start together

    def _send(self, request: tuple) -> None:
        assert self.process.stdin is not None
        try:
            pickle.dump(request, self.process.stdin)
            self.process.stdin.flush()
        except OSError:  # a worker that died: its exit is reported by the read that follows
            pass

    def _receive(self) -> Any:
        assert self.process.stdout is not None
        try:
            return pickle.load(self.process.stdout)
        except EOFError:
            code = self.process.wait()
            self.errors.seek(0)
            lines = [line for line in self.errors.read().decode(errors="replace").splitlines() if line.strip()]
            raise RuntimeError(f"the worker process for {self.spec} ended (exit {code}): {lines[-1][:300] if lines else 'no output'}") from None

    @property
    def opened(self) -> dict[str, Any]:
        """What the worker's opener said: threads, notes, runtime (waits for the worker to be ready)."""
        if self._opened is None:
            status, opened = self._receive()
            if status != "ok":
                self.close()
                raise InputError(f"{self.spec} does not open in a worker process: {opened}")
            self._opened = opened
        return self._opened

    def _ask(self, request: tuple) -> Any:
        self.opened  # noqa: B018 (the open request is answered first)
        self._send(request)
        return self._receive()

    @property
    def threads(self) -> int:
        return int(self.opened["threads"])

    @property
    def predictor(self) -> IsolatedPredictor:
        """What an OpenedModel's `predictor` is: it predicts, and times its own blocks of calls."""
        return self

    @property
    def workload(self) -> str:
        return str(self.opened["workload"])

    @property
    def sample_shape(self) -> tuple[int, ...] | None:
        shape = self.opened["sample_shape"]
        return tuple(shape) if shape is not None else None

    def example_input(self) -> Any:
        """The model's own batch-1 example input (OpenedModel.example_input), made in the worker."""
        return self._ask(("example",))

    def predict(self, batch: np.ndarray) -> list[np.ndarray]:
        return self._ask(("predict", np.ascontiguousarray(batch)))

    def timed_calls(self, batch: np.ndarray, count: int) -> float:
        """Seconds `count` calls on `batch` took, timed inside the worker."""
        return self._ask(("time", np.ascontiguousarray(batch), int(count)))

    def close(self) -> None:
        self.errors.close()
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.close()  # the worker ends when its pipe closes
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> IsolatedPredictor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "process", None) is not None and self.process.poll() is None:
            self.process.kill()


def _serve(requests: Any, replies: Any) -> None:
    def reply(value: Any) -> None:
        pickle.dump(value, replies)
        replies.flush()

    predictor = None
    while True:
        try:
            request = pickle.load(requests)
        except EOFError:
            return
        if request[0] == "open":
            from mc.runtimes import open_model

            _, spec, target, threads, input_shape = request
            try:
                model = open_model(spec, target, threads=threads, input_shape=input_shape, shared_cores=True)
            except Exception as error:
                reply(("failed", f"{type(error).__name__}: {str(error).splitlines()[0][:300] if str(error) else ''}"))
                continue
            predictor = model.predictor
            reply(("ok", {"threads": model.threads, "notes": list(model.notes), "runtime": model.runtime,
                          "workload": model.workload, "sample_shape": model.sample_shape}))
        elif request[0] == "example":
            reply(model.example_input())
        elif request[0] == "predict":
            reply(predictor.predict(request[1]))  # type: ignore[union-attr]
        else:
            _, batch, count = request
            start = time.perf_counter()
            for _ in range(count):
                predictor.predict(batch)  # type: ignore[union-attr]
            reply(time.perf_counter() - start)


def _main() -> None:
    # the protocol has stdout to itself: whatever a library prints goes to stderr
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    _serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    _main()
