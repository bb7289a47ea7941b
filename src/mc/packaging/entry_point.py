"""A deployment bundle's entry point (copied into the bundle as run.py by `mc package`).

Standalone on purpose: numpy, onnxruntime and the standard library only, never torch or mc, so a
bundle runs where neither is installed. It reads manifest.json beside it (the model file, the
runtime's settings, the meta pipeline's settings), opens the model once, and runs the meta pipeline
mc benches, minimally and faithfully: perception (softmax, certainty, the model's confidence head),
recursive awareness on the state's grid point at the settings' starting depth, and the overall
confidence (0.6 self-report + 0.4 meta judgement), as mc.pipeline computes them offline.

    python run.py INPUT.npy|INPUT.npz|-     predictions + confidence, one line per sample (--json: JSON lines)
    python run.py --serve PORT              GET /health, POST /predict ({"inputs": [...]} or a .npy body)
    python run.py --measure N               N batch-1 queries: latency and this process's peak RSS, as JSON
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROCESS_WEIGHT, META_WEIGHT = 0.6, 0.4  # mc.pipeline.confidence
RECURSION_DEPTH_OF_LEVEL = {"minimal": 1, "reduced": 2, "standard": 3, "enhanced": 4}  # mc.pipeline.quality


class BundleError(Exception):
    """Bad input or a broken bundle: one line, exit 2."""


def load_manifest(folder: Path = HERE) -> dict:
    path = folder / "manifest.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise BundleError(f"{path}: cannot read the bundle's manifest ({error})") from None


def open_session(folder: Path, manifest: dict, threads: int | None = None):
    runtime = manifest["runtime"]
    threads = threads or int(runtime.get("intra_op_num_threads") or 0)
    if threads:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, str(threads))
    try:
        import onnxruntime as ort
    except ImportError:
        raise BundleError("onnxruntime is not installed: pip install -r requirements.txt") from None
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = int(runtime.get("inter_op_num_threads") or 1)
    options.log_severity_level = 3
    model = folder / manifest["model"]["file"]
    return ort.InferenceSession(str(model), options, providers=runtime.get("providers") or ["CPUExecutionProvider"])


# --- the meta pipeline (mc.pipeline's perception, cache grid, awareness and confidence) ---

def _state(logits: list, confidence):
    peak = max(logits)
    weights = [math.exp(value - peak) for value in logits]
    total = sum(weights)
    probabilities = [weight / total for weight in weights]
    return probabilities, logits.index(peak), (max(probabilities) if confidence is None else confidence)


def _judge(cues):
    first, second, third = cues
    mean = (first + second + third) / 3.0
    spread = (abs(first - mean) + abs(second - mean) + abs(third - mean)) / 3.0
    agreement = max(0.0, 1.0 - 2.0 * spread)
    return 0.5 + (mean - 0.5) * agreement, agreement


def awareness(probabilities: list, confidence: float, depth: int, levels: int) -> float:
    """The integrated judgement of `depth` levels, from the state quantized to `levels` grid steps."""
    grid = [int(min(1.0, max(0.0, p)) * levels + 0.5) for p in probabilities]
    quantized_confidence = int(min(1.0, max(0.0, confidence)) * levels + 0.5) / levels
    classes, total = len(grid), sum(grid)
    if total == 0:
        cues = (1.0 / classes, 0.0, quantized_confidence)
    else:
        entropy = -sum(count / total * math.log(count / total) for count in grid if count)
        certainty = min(1.0, max(0.0, 1.0 - entropy / math.log(classes)))
        cues = (max(grid) / total, certainty, quantized_confidence)
    judgements, previous = [], cues[2]
    for _ in range(depth):
        judgement, agreement = _judge(cues)
        judgements.append(judgement)
        cues = (judgement, agreement, previous)
        previous = judgement
    return sum(judgements) / len(judgements)


def meta_pipeline(outputs: list, settings: dict) -> list[dict]:
    """One result per row: the prediction, the overall confidence and what it was made of."""
    import numpy as np

    logits = np.asarray(outputs[0], dtype=np.float64)
    rows = logits.shape[0] if logits.ndim > 1 else 1
    logits = logits.reshape(rows, -1)
    if len(outputs) > 1:
        confidences = np.clip(np.asarray(outputs[1], dtype=np.float64).reshape(rows, -1)[:, 0], 0.0, 1.0).tolist()
    else:
        confidences = [None] * rows
    depth, levels = int(settings["recursion_depth"]), int(settings["cache_levels"])
    results = []
    for row, confidence in zip(logits.tolist(), confidences):
        probabilities, predicted, self_report = _state(row, confidence)
        integrated = awareness(probabilities, self_report, depth, levels)
        results.append({
            "prediction": predicted,
            "confidence": PROCESS_WEIGHT * self_report + META_WEIGHT * integrated,
            "self_report": self_report,
            "top_probability": max(probabilities),
            "awareness": integrated,
        })
    return results


class Model:
    def __init__(self, folder: Path = HERE, threads: int | None = None):
        self.manifest = load_manifest(folder)
        self.session = open_session(folder, self.manifest, threads)
        spec = self.manifest["model"]["inputs"][0]
        self.input_name = spec["name"]
        self.sample_shape = tuple(int(size) if isinstance(size, int) and size > 0 else -1 for size in spec["shape"][1:])
        self.settings = self.manifest["pipeline"]

    def batch(self, array):
        """Samples batch-first; a single sample (its own shape) becomes a batch of one."""
        import numpy as np

        array = np.asarray(array, dtype=np.float32)
        if array.ndim == len(self.sample_shape):
            array = array[None]
        if array.ndim != len(self.sample_shape) + 1 or any(
            want not in (-1, got) for want, got in zip(self.sample_shape, array.shape[1:])
        ):
            raise BundleError(f"input of shape {tuple(array.shape)}: the model takes (batch, "
                              f"{', '.join('?' if s < 0 else str(s) for s in self.sample_shape)})")
        return np.ascontiguousarray(array)

    def predict(self, array) -> list[dict]:
        outputs = self.session.run(None, {self.input_name: self.batch(array)})
        return meta_pipeline(outputs, self.settings)


def read_input(source: str):
    import numpy as np

    if source == "-":
        raw = sys.stdin.buffer.read()
        if raw.startswith(b"\x93NUMPY"):
            return np.load(io.BytesIO(raw), allow_pickle=False)
        try:
            data = json.loads(raw)
        except ValueError:
            raise BundleError("stdin: neither .npy bytes nor JSON") from None
        return np.asarray(data["inputs"] if isinstance(data, dict) else data, dtype=np.float32)
    path = Path(source)
    if not path.is_file():
        raise BundleError(f"{source}: no such file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise BundleError(f"{source}: not a .npy or .npz file ({error})") from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        names = list(loaded.files)
        if not names:
            raise BundleError(f"{source}: an empty .npz")
        return loaded["x" if "x" in names else names[0]]


def peak_rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0
    except (ImportError, OSError):
        return None


def nearest_rank(sorted_values: list, q: float) -> float:
    return sorted_values[max(0, math.ceil(q / 100.0 * len(sorted_values)) - 1)]


def measure(model: Model, queries: int, warmup: int = 20) -> dict:
    """Closed loop at batch 1 through model and pipeline, on deterministic random samples."""
    import numpy as np

    shape = tuple(size if size > 0 else 1 for size in model.sample_shape)
    samples = np.random.default_rng(0).standard_normal((queries + warmup, *shape)).astype(np.float32)
    times = []
    for index, sample in enumerate(samples):
        began = time.perf_counter()
        model.predict(sample[None])
        if index >= warmup:
            times.append((time.perf_counter() - began) * 1e3)
    times.sort()
    torch_loaded = "torch" in sys.modules
    threads = model.session.get_session_options().intra_op_num_threads
    return {"queries": queries, "threads": threads, "latency_ms": {"p50": nearest_rank(times, 50), "p99": nearest_rank(times, 99), "max": times[-1]},
            "peak_rss_mb": peak_rss_mb(), "torch_imported": torch_loaded}


def serve(model: Model, host: str, port: int) -> None:
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path == "/health":
                self._send(200, {"status": "ok", "model": model.manifest["model"]["file"],
                                 "sha256": model.manifest["model"]["sha256"]})
            else:
                self._send(404, {"error": "GET /health or POST /predict"})

        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/predict":
                self._send(404, {"error": "POST /predict"})
                return
            import numpy as np

            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                if raw.startswith(b"\x93NUMPY"):
                    array = np.load(io.BytesIO(raw), allow_pickle=False)
                else:
                    data = json.loads(raw)
                    array = np.asarray(data["inputs"] if isinstance(data, dict) else data, dtype=np.float32)
                self._send(200, {"predictions": model.predict(array)})
            except (BundleError, ValueError, KeyError, TypeError) as error:
                self._send(400, {"error": str(error) or type(error).__name__})

        def log_message(self, *args) -> None:  # quiet: one line per request is the caller's business
            pass

    server = HTTPServer((host, port), Handler)
    print(f"serving {model.manifest['model']['file']} on http://{host}:{server.server_address[1]} (/health, /predict)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run this bundle's model in its meta pipeline.")
    parser.add_argument("input", nargs="?", help=".npy, .npz (array x, or the first) or - for stdin (.npy bytes or JSON)")
    parser.add_argument("--json", action="store_true", help="one JSON object per sample")
    parser.add_argument("--serve", type=int, metavar="PORT", help="serve GET /health and POST /predict")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0 in a container)")
    parser.add_argument("--measure", type=int, metavar="N", help="time N batch-1 queries; print latency and peak RSS")
    parser.add_argument("--threads", type=int, help="intra-op threads [default: the target's, from the manifest]")
    args = parser.parse_args(argv)
    try:
        if args.input is None and args.serve is None and args.measure is None:
            raise BundleError("give an input (.npy, .npz or -), --serve PORT or --measure N")
        model = Model(threads=args.threads)
        if args.measure is not None:
            print(json.dumps(measure(model, max(1, args.measure))))
        elif args.serve is not None:
            serve(model, args.host, args.serve)
        else:
            for index, result in enumerate(model.predict(read_input(args.input))):
                if args.json:
                    print(json.dumps({"index": index, **result}))
                else:
                    print(f"{index}\tprediction {result['prediction']}\tconfidence {result['confidence']:.4f}")
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
