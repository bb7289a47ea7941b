import json
import subprocess
import sys


MISSION = ["train", "export", "quantize", "prune", "distill", "compile", "bench", "run", "report", "models", "targets", "doctor"]


def test_help_lists_every_subcommand_of_the_mission(mc):
    result = mc("--help")
    assert result.exit_code == 0
    for name in MISSION + ["eval"]:
        assert f" {name} " in result.stdout, name


def test_doctor_reports_backends_with_versions(mc, tmp_path):
    result = mc("doctor", "--json", tmp_path / "doctor.json")
    assert result.exit_code == 0, result.stderr
    report = json.loads((tmp_path / "doctor.json").read_text())
    backends = {backend["name"]: backend for backend in report["backends"]}
    for required in ("torch", "onnx", "onnxruntime"):
        assert backends[required]["present"] and backends[required]["version"]
    assert {"tensorrt", "torch-tensorrt", "optimum"} <= set(backends)
    assert "CPUExecutionProvider" in report["onnxruntime_providers"]
    assert "torch" in result.stdout and "CUDA" in result.stdout
    if not backends["torch-tensorrt"]["present"]:  # the extra's name survives rich's markup
        assert "'mc[tensorrt]'" in result.stdout.replace("\n", " ")
    if backends["optimum"]["present"]:  # optimum's own version, not optimum-onnx's
        from importlib.metadata import version

        assert backends["optimum"]["version"] == version("optimum")


def test_models_lists_the_family_with_shipped_accuracy(mc, tmp_path):
    result = mc("models", "--json", tmp_path / "models.json")
    assert result.exit_code == 0, result.stderr
    rows = {row["name"]: row for row in json.loads((tmp_path / "models.json").read_text())}
    assert set(rows) >= {"mobile-tiny", "mobile-small", "mobile-base", "cpu-mlp", "gru-small"}
    assert rows["mobile-small"]["checkpoint_kind"] == "shipped checkpoint"
    assert rows["mobile-small"]["test_accuracy"] >= 0.97
    assert rows["mobile-tiny"]["test_accuracy"] >= 0.94 and rows["mobile-tiny"]["parameters"] <= 30_000
    assert rows["mobile-base"]["checkpoint"] is None
    assert "mobile-small" in result.stdout


def test_the_installed_console_script_maps_errors_to_exit_codes():
    """The real entry point, in a fresh process: flags after the subcommand, exit codes, no traceback."""
    script = [sys.executable, "-c", "from mc_cli.main import main; main()"]
    missing = subprocess.run(script + ["eval", "no/such/model.onnx"], capture_output=True, text=True)
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr and "not found" in missing.stderr
    debug = subprocess.run(script + ["eval", "no/such/model.onnx", "--debug"], capture_output=True, text=True)
    assert debug.returncode == 2 and "Traceback" in debug.stderr
    usage = subprocess.run(script + ["export"], capture_output=True, text=True)
    assert usage.returncode == 2
