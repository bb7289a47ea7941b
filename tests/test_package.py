"""`mc package`: a real bundle of mobile-tiny's ONNX, its standalone entry point (file, stdin, HTTP),
verification, the budget check and atomicity; and, slow, the bundle in a fresh venv from its own
requirements.txt (no torch) reproducing mc eval."""

from __future__ import annotations

import ast
import json
import math
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import assert_one_line_error

ENTRY_POINT = Path(__file__).resolve().parent.parent / "src" / "mc" / "packaging" / "entry_point.py"


@pytest.fixture(scope="module")
def bundle(tiny_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import Mc

    folder = tmp_path_factory.mktemp("bundles") / "tiny-pi5"
    result = Mc()("package", tiny_onnx, "--target", "pi5", "-o", folder)
    assert result.exit_code == 0, result.stderr
    return folder


@pytest.fixture(scope="module")
def test_samples(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    from mc.data.mnist1d import load_mnist1d

    test = load_mnist1d().test
    path = tmp_path_factory.mktemp("samples") / "test.npz"
    np.savez(path, x=test.x, y=test.y)
    return path, test.x, test.y


def run_entry(bundle: Path, *args: str, python: str = sys.executable, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([python, str(bundle / "run.py"), *args], input=stdin, capture_output=True, env=env, timeout=300)


def test_bundle_contents_and_manifest(bundle: Path, tiny_onnx: Path) -> None:
    from mc import __version__
    from mc.hashing import sha256_file

    names = sorted(path.name for path in bundle.iterdir())
    assert names == sorted(["tiny.onnx", "tiny.onnx.json", "manifest.json", "run.py", "requirements.txt", "Dockerfile", "deployment.yaml"])
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["mc_version"] == __version__ and manifest["target"] == "pi5"
    assert manifest["model"]["sha256"] == sha256_file(tiny_onnx)
    assert manifest["files"]["tiny.onnx"] == sha256_file(bundle / "tiny.onnx") and "manifest.json" not in manifest["files"]
    assert manifest["runtime"]["name"] == "onnxruntime" and manifest["runtime"]["intra_op_num_threads"] == 4  # pi5's threads
    assert manifest["model"]["inputs"][0]["shape"][1:] == [1, 40] and len(manifest["model"]["outputs"]) == 2
    assert manifest["pipeline"]["max_latency_ms"] == 100 and manifest["pipeline"]["recursion_depth"] == 3
    assert set(manifest["budgets"]) == {"model size", "storage", "RAM", "latency p99"}
    assert all(check["within"] for check in manifest["budgets"].values()) and manifest["over_budget"] == []
    assert manifest["measured"]["torch_imported"] is False and manifest["measured"]["peak_rss_mb"] > 10
    requirements = (bundle / "requirements.txt").read_text()
    assert "onnxruntime>=" in requirements and "numpy>=" in requirements and "torch" not in requirements.replace("# The bundle runs on these alone (no torch, no mc).", "")
    deployment = yaml.safe_load((bundle / "deployment.yaml").read_text())
    resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["limits"]["memory"] == "2048Mi" and resources["limits"]["ephemeral-storage"] == "1024Mi"
    assert "run.py" in (bundle / "Dockerfile").read_text()


def test_entry_point_imports_neither_torch_nor_mc() -> None:
    tree = ast.parse(ENTRY_POINT.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported - set(sys.stdlib_module_names) - {"__future__"} == {"numpy", "onnxruntime"}


def test_entry_point_matches_the_meta_pipeline(bundle: Path, test_samples, tmp_path: Path) -> None:
    """Predictions and overall confidence as mc's MetaPipeline computes them offline at the start level."""
    from mc.pipeline.processor import MetaPipeline
    from mc.pipeline.settings import ProcessorSettings
    from mc.runtimes import open_model

    _, x, _ = test_samples
    np.save(tmp_path / "some.npy", x[:64])
    done = run_entry(bundle, str(tmp_path / "some.npy"), "--json")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    pipeline = MetaPipeline(open_model(bundle / "tiny.onnx").predictor, ProcessorSettings(adaptive_quality=False))
    for row, sample in zip(rows, x[:64], strict=True):
        outcome = pipeline.process(sample, deadline=math.inf)
        assert row["prediction"] == outcome.predicted
        assert row["confidence"] == pytest.approx(outcome.experience.confidence, abs=1e-9)
    # stdin: .npy bytes of one sample (no batch axis) and JSON
    one = run_entry(bundle, "-", stdin=(tmp_path / "some.npy").read_bytes())
    assert one.returncode == 0 and len(one.stdout.decode().splitlines()) == 64
    as_json = run_entry(bundle, "-", "--json", stdin=json.dumps({"inputs": x[:2].tolist()}).encode())
    assert [json.loads(line)["prediction"] for line in as_json.stdout.decode().splitlines()] == [row["prediction"] for row in rows[:2]]
    bad = run_entry(bundle, str(tmp_path / "missing.npy"))
    assert bad.returncode == 2 and bad.stderr.decode().count("\n") == 1 and "Traceback" not in bad.stderr.decode()


def test_serve_health_and_predict(bundle: Path, test_samples) -> None:
    _, x, _ = test_samples
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    process = subprocess.Popen([sys.executable, str(bundle / "run.py"), "--serve", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        line = process.stdout.readline()
        assert "serving" in line, process.stderr.read() if process.poll() is not None else line
        base = line.split("http://")[1].split()[0]
        health = json.loads(urllib.request.urlopen(f"http://{base}/health", timeout=30).read())
        assert health["status"] == "ok" and health["model"] == "tiny.onnx"
        request = urllib.request.Request(f"http://{base}/predict", data=json.dumps({"inputs": x[:3].tolist()}).encode(), method="POST")
        predictions = json.loads(urllib.request.urlopen(request, timeout=30).read())["predictions"]
        assert len(predictions) == 3 and all(0.0 <= p["confidence"] <= 1.0 for p in predictions)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_verify_detects_tampering(mc, bundle: Path, tmp_path: Path) -> None:
    import shutil

    assert mc("package", "--verify", bundle).exit_code == 0
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    with open(copy / "run.py", "a") as handle:
        handle.write("# changed\n")
    assert_one_line_error(mc("package", "--verify", copy), exit_code=1, contains="run.py was modified")
    (copy / "tiny.onnx.json").unlink()
    assert_one_line_error(mc("package", "--verify", copy), exit_code=1, contains="tiny.onnx.json is missing")
    assert_one_line_error(mc("package", "--verify", tmp_path), exit_code=2, contains="not a bundle")


def test_over_budget_refused_then_allowed(mc, tiny_onnx: Path, tmp_path: Path) -> None:
    from importlib import resources

    profile = yaml.safe_load((Path(str(resources.files("mc_recipes"))) / "targets" / "pi5.yaml").read_text())
    profile["name"] = "tiny-budget"
    profile["budgets"]["model_size_mb"] = 0.01
    path = tmp_path / "tiny-budget.yaml"
    path.write_text(yaml.safe_dump(profile))
    output = tmp_path / "out" / "bundle"
    line = assert_one_line_error(mc("package", tiny_onnx, "--target", path, "-o", output), exit_code=1, contains="model size")
    assert "budget 0.01 MB" in line and "over by 0.17" in line and "--allow-over-budget" in line
    assert not output.exists() and not output.parent.exists()  # nothing half-written, not even the folder
    assert mc("package", tiny_onnx, "--target", path, "-o", output, "--allow-over-budget").exit_code == 0
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["over_budget"] == ["model size"] and manifest["budgets"]["model size"]["within"] is False


def test_relative_output_path(mc, tiny_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = mc("package", tiny_onnx, "--target", "x86-cpu", "-o", "relative-bundle")
    assert result.exit_code == 0, result.stderr
    assert mc("package", "--verify", "relative-bundle").exit_code == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["relative-bundle"]  # no staging folder left


def test_existing_output_and_other_kinds_refused(mc, bundle: Path, tiny_onnx: Path, tmp_path: Path) -> None:
    before = sorted(path.name for path in bundle.iterdir())
    assert_one_line_error(mc("package", tiny_onnx, "--target", "pi5", "-o", bundle), contains="already exists")
    assert sorted(path.name for path in bundle.iterdir()) == before
    program = tmp_path / "model.pte"
    program.write_bytes(b"not really")
    assert_one_line_error(mc("package", program, "--target", "pi5", "-o", tmp_path / "b"), contains="ExecuTorch program")
    assert_one_line_error(mc("package", tmp_path / "nope.onnx", "--target", "pi5", "-o", tmp_path / "b"), contains="not found")
    assert_one_line_error(mc("package", tiny_onnx, "--target", "pi5"), contains="-o BUNDLE")
    assert not (tmp_path / "b").exists()


@pytest.mark.slow
def test_bundle_in_a_fresh_venv_reproduces_mc_eval(mc, bundle: Path, test_samples, tmp_path: Path) -> None:
    """The bundle's own requirements.txt in a new virtual environment (no torch, no mc): its entry point
    gives mc's predictions on the whole test set, and mc eval's accuracy."""
    from mc.runtimes import open_model, predict_all

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    install = subprocess.run([python, "-m", "pip", "install", "-q", "-r", str(bundle / "requirements.txt")], capture_output=True, text=True, timeout=900)
    if install.returncode != 0:
        pytest.skip(f"pip could not install the bundle's requirements here: {install.stderr.strip().splitlines()[-1:]}")
    assert subprocess.run([python, "-c", "import torch"], capture_output=True).returncode != 0  # no torch came with it
    assert subprocess.run([python, "-c", "import mc"], capture_output=True).returncode != 0
    path, x, y = test_samples
    done = run_entry(bundle, str(path), "--json", python=python)
    assert done.returncode == 0, done.stderr
    predicted = np.array([json.loads(line)["prediction"] for line in done.stdout.splitlines()])
    expected = predict_all(open_model(bundle / "tiny.onnx").predictor, x)[0].argmax(axis=1)
    assert (predicted == expected).all()
    result = mc("eval", bundle / "tiny.onnx", "--json", tmp_path / "eval.json")
    assert result.exit_code == 0, result.stderr
    accuracy = json.loads((tmp_path / "eval.json").read_text())["metrics"]["accuracy"]
    assert float((predicted == y).mean()) == pytest.approx(accuracy, abs=1e-12)
    started = time.perf_counter()
    measured = json.loads(run_entry(bundle, "--measure", "100", python=python).stdout)
    assert measured["torch_imported"] is False and measured["latency_ms"]["p99"] < 1000 and time.perf_counter() - started < 300
