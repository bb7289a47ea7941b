"""Energy per inference: the profiles' power figures and sources, the estimate's arithmetic, RAPL
counters read from a powercap tree, and a real bench's energy in the result, the report's hardware
table (every target, each row labelled) and the `max_power_w` gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mc.energy import RaplWindow, estimate_energy, rapl_domains
from mc.targets import load_target, target_names


def test_every_profile_has_power_figures_with_a_source() -> None:
    for name in target_names():
        power = load_target(name).power
        assert power is not None and len(power.source) > 40, name
    pi5, jetson = load_target("pi5"), load_target("jetson-orin-nano")
    assert (pi5.power.idle_w, pi5.power.loaded_w) == (2.7, 4.0) and "800 mA" in pi5.power.source
    assert (jetson.power.idle_w, jetson.power.loaded_w) == (7, 15) and "7 W and 15 W" in jetson.power.source
    assert load_target("x86-cpu").power.meter == "rapl" and load_target("gpu").power.meter == "nvidia-smi"
    for target in (pi5, jetson):
        assert target.budgets.power_w == 5 and target.budgets.storage_mb == 1024


def test_estimate_arithmetic() -> None:
    pi5 = load_target("pi5")
    estimate = estimate_energy(pi5, service_ms=10.0, rate_hz=20.0, basis="test")
    assert estimate["label"] == "estimated for pi5"
    assert estimate["utilisation"] == pytest.approx(0.2)  # 10 ms x 20 Hz
    assert estimate["mean_w"] == pytest.approx(2.7 + 0.2 * 1.3)
    assert estimate["joules_per_inference"] == pytest.approx((2.7 + 0.2 * 1.3) / 20)
    assert estimate["active_joules"] == pytest.approx(1.3 * 0.01)
    saturated = estimate_energy(pi5, service_ms=80.0, rate_hz=20.0, basis="test")
    assert saturated["utilisation"] == 1.0 and saturated["mean_w"] == pytest.approx(4.0)
    nothing = estimate_energy(pi5, service_ms=None, rate_hz=20.0, basis="test")
    assert nothing["mean_w"] is None and nothing["note"] == "no service time"


def _domain(root: Path, name: str, label: str, energy: int, max_range: int = 1000) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "energy_uj").write_text(f"{energy}\n")
    (folder / "max_energy_range_uj").write_text(f"{max_range}\n")
    (folder / "name").write_text(f"{label}\n")


def test_rapl_window_reads_package_domains_and_wraps(tmp_path: Path) -> None:
    _domain(tmp_path, "intel-rapl:0", "package-0", 900)
    _domain(tmp_path, "intel-rapl:0:0", "core", 10)  # a sub-domain: the package already counts it
    _domain(tmp_path, "intel-rapl:1", "package-1", 100)
    assert [domain.name for domain in rapl_domains(tmp_path)] == ["package-0", "package-1"]
    window = RaplWindow(tmp_path)
    window.start()
    (tmp_path / "intel-rapl:0" / "energy_uj").write_text("300\n")  # wrapped: 900 -> 1000 -> 300 = 400 uJ
    (tmp_path / "intel-rapl:1" / "energy_uj").write_text("600\n")  # 500 uJ
    window.stop()
    assert window.joules == pytest.approx(900e-6)
    result = window.result(requests=9)
    assert result["readable"] and result["joules_per_inference"] == pytest.approx(100e-6)
    assert not RaplWindow(tmp_path / "absent").result(9)["readable"]


@pytest.fixture(scope="module")
def bench_result(tiny_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    from tests.conftest import Mc

    folder = tmp_path_factory.mktemp("energy")
    out, bundle = folder / "bench.json", folder / "bundle"
    assert Mc()("package", tiny_onnx, "--target", "pi5", "-o", bundle).exit_code == 0
    # A bundle benches here as the model it holds.
    result = Mc()("bench", bundle, "--target", "pi5", "--scenario", "latency", "--queries", "100", "--duration", "1",
                  "--warmup", "8", "--json", out)
    assert result.exit_code == 0, result.stderr
    return json.loads(out.read_text()), result.stdout


def test_bench_gives_energy_per_inference(bench_result) -> None:
    data, stdout = bench_result
    assert data["variants"][0]["artifact"].endswith("bundle/tiny.onnx")
    energy = data["variants"][0]["energy"]
    pi5 = energy["target"]
    assert pi5["label"] == "estimated for pi5" and 2.7 <= pi5["mean_w"] <= 4.0
    assert pi5["joules_per_inference"] == pytest.approx(pi5["mean_w"] / 20.0)
    jetson = energy["other_targets"]["jetson-orin-nano"]
    assert jetson["label"] == "estimated for jetson-orin-nano" and 7.0 <= jetson["mean_w"] <= 15.0
    assert "label" in energy["measured"]  # measured where RAPL is readable; says so where it is not
    assert "energy estimated for pi5:" in " ".join(stdout.split())


def test_report_hardware_table_covers_every_target(bench_result, tmp_path: Path) -> None:
    from mc.report.build import BuiltVariant, RunPlan, build_report
    from mc.report.content import hardware_table

    data, _ = bench_result
    bench = {**data, "variant_names": ["fp32"]}
    plan = RunPlan(name="t", description="", path=str(tmp_path / "r.yaml"), model="mobile-tiny", data=None, target="pi5",
                   reference="fp32", gates={"max_power_w": 5.0}, bench={})
    report = build_report(plan, [BuiltVariant(name="fp32", status="ok")], bench, None, {}, tmp_path)
    rows = {row.hardware.split(":")[0].split(" (")[0]: row for row in report.hardware}
    assert {"pi5", "jetson-orin-nano", "gpu"} <= set(rows) and any(name.startswith("this host") for name in rows)
    assert rows["pi5"].power.method == "estimated" and 2.7 <= rows["pi5"].power.value <= 4.0
    assert rows["jetson-orin-nano"].power.method == "estimated" and rows["jetson-orin-nano"].latency.method == "estimated"
    assert rows["gpu"].latency.value is None and "not available" in rows["gpu"].latency.source
    table = hardware_table(report)
    assert table.headers[-1] == "Power · energy"
    assert any("(est.)" in row[-1].text and "/inference" in row[-1].text for row in table.rows)
    gate = next(gate for gate in report.variants[0].gates if gate.name == "max_power_w")
    assert gate.passed  # pi5's estimate stays under its 5 W budget
    from mc.report.build import judge_gates

    over = judge_gates({"max_power_w": 5.0}, {"mean_power_w": rows["jetson-orin-nano"].power})
    assert not over[0].passed  # the Orin Nano's lowest power mode alone is 7 W
