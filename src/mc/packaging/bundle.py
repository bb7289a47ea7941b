"""`mc package`: a deployment bundle (model, sidecar, manifest, entry point, requirements, Dockerfile,
Kubernetes Deployment) checked against the target's budgets, written atomically; and its verification.

The bundle is staged in a temporary folder beside the output and renamed into place only when
everything is written and the budgets hold (or `allow_over_budget`), so a refused or failed bundle
leaves nothing. RAM and latency are measured by running the bundle's own entry point (no torch, no mc)
in a fresh process; the manifest says where they were measured.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from mc.errors import CheckFailed, InputError, NotBuiltYet

BUNDLE_SCHEMA = "mc.bundle/1"
MANIFEST = "manifest.json"
ENTRY_POINT = "run.py"
MEASURE_QUERIES = 700  # nearest-rank p99 needs at least 662
MEASURE_TIMEOUT_S = 300.0
# The bundle's only dependencies: ONNX Runtime and NumPy, bounded to the majors this code runs on.
REQUIREMENTS = ("onnxruntime>=1.18,<2", "numpy>=1.24,<3")
SEED_STORAGE_MB = 1024.0  # the seed's storage budget, where a profile names none


@dataclass(frozen=True)
class BudgetCheck:
    name: str
    value: float | None
    budget: float
    unit: str
    how: str

    @property
    def over(self) -> bool:
        return self.value is not None and self.value > self.budget

    def line(self) -> str:
        return f"{self.name} {self.value:.3f} {self.unit} > budget {self.budget:g} {self.unit} (over by {self.value - self.budget:.3f} {self.unit}, {self.how})"

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "budget": self.budget, "unit": self.unit, "within": None if self.value is None else not self.over,
                "how": self.how}


def _refuse_kind(path: Path) -> None:
    """ONNX first; the other kinds have their own runtimes, which the entry point does not open yet."""
    suffix = "".join(path.suffixes[-1:]).lower()
    if path.is_dir() or suffix != ".onnx":
        what = {".pte": "an ExecuTorch program", ".xml": "an OpenVINO IR", ".pt2": "a compiled package", ".ep": "a compiled program",
                ".pt": "a torch checkpoint", ".pth": "a torch checkpoint"}.get(suffix, "a model folder" if path.is_dir() else f"a {suffix or 'file'}")
        raise NotBuiltYet(f"{path} is {what}: mc package bundles ONNX models (fp32 or quantized) for now; export it first "
                          "(mc export MODEL -o model.onnx)")
    from mc.runtimes.ort_binding import read_binding

    if read_binding(path):
        raise NotBuiltYet(f"{path} is bound to a GPU provider by mc compile: mc package bundles CPU ONNX models for now")


def _io_specs(session_values: list) -> list[dict[str, Any]]:
    return [{"name": value.name, "shape": [dim if isinstance(dim, int) else str(dim) for dim in value.shape], "type": value.type}
            for value in session_values]


def _model_io(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"ONNX Runtime cannot load {path} ({first[:200]})") from None
    inputs, outputs = _io_specs(session.get_inputs()), _io_specs(session.get_outputs())
    if len(inputs) != 1 or "float" not in inputs[0]["type"]:
        raise InputError(f"{path}: mc package bundles classifiers with one float input (this one has "
                         f"{', '.join(spec['name'] + ' ' + spec['type'] for spec in inputs)})")
    return inputs, outputs


def _entry_point_source() -> str:
    return (resources.files("mc.packaging") / "entry_point.py").read_text()


def _dockerfile(port: int) -> str:
    return f"""# The bundle's image: ONNX Runtime and NumPy only (no torch, no mc). Build: docker build -t NAME .
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN python run.py --measure 20 >/dev/null
EXPOSE {port}
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/health', timeout=4)"
CMD ["python", "run.py", "--serve", "{port}", "--host", "0.0.0.0"]
"""


def _mebibytes(value_mb: float) -> str:
    return f"{max(16, int(-(-value_mb // 16) * 16))}Mi"


def _deployment(name: str, target: Any, peak_rss_mb: float | None, storage_mb: float, port: int) -> str:
    """Requests from what the entry point was measured to need, limits from the target's budgets."""
    request_mb = min(target.budgets.ram_mb, (peak_rss_mb or 128.0) * 1.25)
    arch = {"aarch64": "arm64", "arm64": "arm64", "x86_64": "amd64", "amd64": "amd64"}.get(str(target.arch).lower())
    selector = f"""      nodeSelector:
        kubernetes.io/arch: {arch}
""" if arch else ""
    return f"""# Kubernetes Deployment for the {name} bundle on {target.name}: requests from the entry point's measured
# peak RSS (x1.25), limits from the target's budgets (RAM {target.budgets.ram_mb:g} MB, storage {storage_mb:g} MB, {target.cores} cores).
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}, mc.target: {target.name}}}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
{selector}      containers:
        - name: model
          image: {name}:latest
          args: ["python", "run.py", "--serve", "{port}", "--host", "0.0.0.0"]
          ports: [{{containerPort: {port}}}]
          resources:
            requests: {{cpu: "{target.threads}", memory: "{_mebibytes(request_mb)}", ephemeral-storage: "{_mebibytes(min(storage_mb, 256))}"}}
            limits: {{cpu: "{target.cores}", memory: "{_mebibytes(target.budgets.ram_mb)}", ephemeral-storage: "{_mebibytes(storage_mb)}"}}
          readinessProbe: {{httpGet: {{path: /health, port: {port}}}, periodSeconds: 10}}
          livenessProbe: {{httpGet: {{path: /health, port: {port}}}, periodSeconds: 30}}
"""


def _files(folder: Path) -> dict[str, str]:
    from mc.hashing import sha256_file

    return {str(path.relative_to(folder)): sha256_file(path) for path in sorted(folder.rglob("*"))
            if path.is_file() and path.name != MANIFEST and "__pycache__" not in path.parts}


def measure_entry_point(folder: Path, threads: int, queries: int = MEASURE_QUERIES, python: str | None = None) -> dict[str, Any]:
    """Run the bundle's entry point in a fresh process (`--measure`): batch-1 latency through model and
    pipeline, and the process's own peak RSS (VmHWM: the child's, not carried over from this process)."""
    folder = Path(folder).resolve()  # the process runs in the bundle: a relative -o must not be joined twice
    command = [python or sys.executable, "-B", str(folder / ENTRY_POINT), "--measure", str(queries), "--threads", str(threads)]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    try:
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=MEASURE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"the bundle's entry point did not finish {queries} queries in {MEASURE_TIMEOUT_S:.0f} s") from None
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise CheckFailed(f"the bundle's entry point failed (exit {done.returncode}): {tail[:300]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _checks(target: Any, model_bytes: int, bundle_bytes: int, measured: dict[str, Any], where: str) -> list[BudgetCheck]:
    budgets = target.budgets
    storage = budgets.storage_mb or SEED_STORAGE_MB
    return [
        BudgetCheck("model size", model_bytes / 1e6, budgets.model_size_mb, "MB", "the model file"),
        BudgetCheck("storage", bundle_bytes / 1e6, storage, "MB", "the whole bundle on disk"),
        BudgetCheck("RAM", measured.get("peak_rss_mb"), budgets.ram_mb, "MB", f"peak RSS of run.py, measured on {where}"),
        BudgetCheck("latency p99", measured["latency_ms"]["p99"], budgets.latency_ms, "ms",
                    f"{measured['queries']} batch-1 queries through run.py, measured on {where}, {measured.get('threads')} thread(s)"),
    ]


def build_bundle(artifact: str | Path, target_spec: str, output: Path, *, allow_over_budget: bool = False,
                 port: int = 8080) -> dict[str, Any]:
    """Write the bundle for `artifact` under `target_spec` at `output` (which must not exist); its manifest.

    Raises InputError (a missing file, an existing output), NotBuiltYet (a kind not bundled yet) or
    CheckFailed (over a budget without `allow_over_budget`, or an entry point that does not run).
    """
    import mc
    from mc.atomic import staged_directory
    from mc.hashing import sha256_file
    from mc.pipeline.settings import ProcessorSettings
    from mc.targets import load_target

    source = Path(artifact)
    output = Path(output)
    if not source.exists():
        raise InputError(f"artifact not found: {source}: check the path")
    if output.exists():
        raise InputError(f"{output} already exists: choose another -o (mc package never writes into an existing folder)")
    target = load_target(target_spec)
    _refuse_kind(source)
    from mc.onnx_file import model_bytes

    if model_bytes(source) != source.stat().st_size:
        raise NotBuiltYet(f"{source} keeps its weights in external data files: mc package bundles single-file ONNX models for now")
    inputs, outputs = _model_io(source)
    settings = ProcessorSettings.for_target(target)
    sidecar = source.with_name(source.name + ".json")
    with staged_directory(output) as staged:
        shutil.copy2(source, staged / source.name)
        if sidecar.is_file():
            shutil.copy2(sidecar, staged / sidecar.name)
        (staged / ENTRY_POINT).write_text(_entry_point_source())
        (staged / "requirements.txt").write_text("# The bundle runs on these alone (no torch, no mc).\n" + "\n".join(REQUIREMENTS) + "\n")
        (staged / "Dockerfile").write_text(_dockerfile(port))
        manifest: dict[str, Any] = {
            "schema": BUNDLE_SCHEMA,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "mc_version": mc.__version__,
            "target": target.name,
            "model": {"file": source.name, "sha256": sha256_file(source), "size_bytes": source.stat().st_size, "kind": "onnx",
                      "sidecar": sidecar.name if sidecar.is_file() else None, "inputs": inputs, "outputs": outputs},
            "runtime": {"name": "onnxruntime", "providers": ["CPUExecutionProvider"], "intra_op_num_threads": target.threads,
                        "inter_op_num_threads": 1, "from": f"target profile {target.name} ({target.source})"},
            "pipeline": settings.model_dump(),
            "requirements": list(REQUIREMENTS),
            "entry_point": ENTRY_POINT,
        }
        (staged / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")  # the entry point reads it
        where = platform.node() or "this host"
        measured = measure_entry_point(staged, target.host_threads())
        name = "mc-" + "".join(ch if ch.isalnum() else "-" for ch in source.stem.lower()).strip("-")[:40]
        storage = target.budgets.storage_mb or SEED_STORAGE_MB
        (staged / "deployment.yaml").write_text(_deployment(name, target, measured.get("peak_rss_mb"), storage, port))
        bundle_bytes = sum(path.stat().st_size for path in staged.rglob("*") if path.is_file() and "__pycache__" not in path.parts)
        checks = _checks(target, source.stat().st_size, bundle_bytes, measured, where)
        over = [check for check in checks if check.over]
        if over and not allow_over_budget:
            raise CheckFailed(f"over the {target.name} budget: " + "; ".join(check.line() for check in over)
                              + " (--allow-over-budget writes the bundle anyway)")
        manifest["budgets"] = {check.name: check.as_dict() for check in checks}
        manifest["over_budget"] = [check.name for check in over]
        manifest["measured"] = {"on": where, "machine": platform.machine(), "torch_imported": measured.get("torch_imported"),
                                "latency_ms": measured["latency_ms"], "queries": measured["queries"], "threads": measured.get("threads"), "peak_rss_mb": measured.get("peak_rss_mb")}
        shutil.rmtree(staged / "__pycache__", ignore_errors=True)
        manifest["files"] = _files(staged)
        (staged / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if output.exists():
            raise InputError(f"{output} appeared while the bundle was built: choose another -o")
        os.replace(staged, output)
    return manifest


def bundle_model(path: str | Path) -> Path | None:
    """The model file of a bundle folder (None when `path` is not a bundle)."""
    folder = Path(path)
    manifest = folder / MANIFEST
    if not (folder.is_dir() and manifest.is_file()):
        return None
    try:
        return folder / json.loads(manifest.read_text())["model"]["file"]
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{manifest}: not a {BUNDLE_SCHEMA} manifest") from None


def verify_bundle(folder: Path) -> dict[str, Any]:
    """Re-check every file's hash against the manifest; CheckFailed naming the first file that differs."""
    from mc.hashing import sha256_file

    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise InputError(f"{folder}: no {MANIFEST}: not a bundle written by mc package")
    try:
        manifest = json.loads(path.read_text())
    except ValueError as error:
        raise CheckFailed(f"{path}: not valid JSON ({error}): the manifest was altered") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != BUNDLE_SCHEMA or not isinstance(manifest.get("files"), dict):
        raise InputError(f"{path}: not a {BUNDLE_SCHEMA} manifest")
    problems = []
    for name, expected in sorted(manifest["files"].items()):
        file = folder / name
        if not file.is_file():
            problems.append(f"{name} is missing")
        elif sha256_file(file) != expected:
            problems.append(f"{name} was modified (sha256 differs from the manifest)")
    listed = set(manifest["files"])
    extra = sorted(name for name in _files(folder) if name not in listed)
    problems += [f"{name} is not in the manifest" for name in extra]
    if problems:
        raise CheckFailed(f"{folder}: " + "; ".join(problems))
    return {"bundle": str(folder), "files": len(listed), "target": manifest.get("target"), "model": manifest["model"]["file"]}
