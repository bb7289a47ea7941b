"""One variant's bench in a fresh process: `python -m mc.bench.worker REQUEST.json RESULT.json`.

The worker opens the artifact with mc.runtimes.open_model (runtime, providers and threads from the
target) and runs the workload the model is for: the real-time meta pipeline for a classifier
(mc.bench.pipeline_workload), closed-loop latency and embedding fidelity for a text model
(mc.bench.text_workload). The request's `workload` is "auto" (the model's own) or one it insists on.

A fresh process per variant so that no variant inherits another's allocator state, thread pools or
caches, and so that its peak RSS is its own. The thread limits are in the environment before NumPy,
torch or ONNX Runtime load (the parent sets them; this module sets them again from the request when
run by hand, before any of those imports). The result goes back as JSON on a file:
{"status": "ok", ...} or {"status": "failed", "kind": "input" | "crash", "error": one line};
exit code 0, 2 (the artifact is bad input) or 1 (a crash).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

from mc.processes import thread_environment


def _write(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:300]}" if text else type(error).__name__


def _run(raw: dict) -> dict:
    import time

    from mc.bench.config import WorkerRequest
    from mc.errors import InputError
    from mc.runtimes import open_model

    request = WorkerRequest.model_validate(raw)
    target = request.target
    began = time.perf_counter()
    model = open_model(request.artifact, target, threads=request.threads,
                       input_shape=tuple(request.input_shape) if request.input_shape else None)
    if request.workload != "auto" and model.workload != request.workload:
        raise InputError(f"{request.artifact} runs the {model.workload} workload, not the {request.workload} one asked for (--workload)")
    if model.workload == "text":
        from mc.bench import text_workload

        result = (text_workload.compute_reference(request, model) if request.mode == "reference"
                  else text_workload.bench_variant(request, model, began))
    else:
        from mc.bench import pipeline_workload

        result = (pipeline_workload.compute_reference(request, model) if request.mode == "reference"
                  else pipeline_workload.bench_variant(request, model, target, began))
    return {"workload": model.workload, "notes": model.notes, "threads": model.threads, **result}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m mc.bench.worker REQUEST.json RESULT.json", file=sys.stderr)
        return 2
    request_path, result_path = Path(argv[0]), Path(argv[1])
    raw = json.loads(request_path.read_text())
    for name, value in thread_environment(int(raw["threads"])).items():
        os.environ.setdefault(name, value)

    from mc.errors import McError  # heavy libraries load from here on, under the limits above

    try:
        result = _run(raw)
    except McError as error:
        _write(result_path, {"status": "failed", "kind": "input", "error": str(error)})
        return 2
    except Exception as error:  # a crash: the parent reports this variant failed and goes on
        traceback.print_exc()
        _write(result_path, {"status": "failed", "kind": "crash", "error": _one_line(error)})
        return 1
    _write(result_path, {"status": "ok", **result})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
