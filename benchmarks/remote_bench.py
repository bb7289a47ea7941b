"""`mc bench --remote` against the same bench run on this host, and a bundle's size and RAM against
the target's budgets.

    python benchmarks/remote_bench.py --remote user@host[:port] [--ssh-option ...] [--remote-python PY] [--rounds 3]

Each round is one `mc bench --remote` invocation, which benches the model on the device and then on
this host: the device/host ratio of the model's p50 and of the scenario's p50 comes from one run.
Against loopback (the device is this machine) the ratios must be 1 within noise: that is the test.
Rounds alternate which side the noise of a loaded machine falls on; the geometric mean is printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def _mc(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "mc_cli.main", *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"mc {' '.join(args[:2])} failed: {done.stderr.strip()[-400:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--remote", required=True)
    parser.add_argument("--ssh-option", action="append", default=[])
    parser.add_argument("--remote-python", default="python3")
    parser.add_argument("--target", default="pi5")
    parser.add_argument("--model", default="mobile-tiny")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _mc("export", args.model, "-o", str(work / "model.onnx"))
        _mc("package", str(work / "model.onnx"), "--target", args.target, "-o", str(work / "bundle"), "--allow-over-budget",
            "--json", str(work / "manifest.json"))
        manifest = json.loads((work / "manifest.json").read_text())
        for name, check in manifest["budgets"].items():
            print(f"bundle {name}: {check['value']:.3f} {check['unit']} of {check['budget']:g} ({check['how']})")
        options = [item for option in args.ssh_option for item in ("--ssh-option", option)]
        model_ratios, scenario_ratios = [], []
        for round_index in range(args.rounds):
            out = work / f"round-{round_index}.json"
            _mc("bench", str(work / "bundle"), "--target", args.target, "--remote", args.remote, *options,
                "--remote-python", args.remote_python, "--scenario", "latency", "--queries", "662", "--duration", "5", "--json", str(out))
            variant = json.loads(out.read_text())["variants"][0]
            device, host = variant["measured"], variant["host"]["measured"]
            model = device["model_latency_ms"]["p50"] / host["model_latency_ms"]["p50"]
            scenario = device["scenario"]["latency_ms"]["p50"] / host["scenario"]["latency_ms"]["p50"]
            model_ratios.append(model)
            scenario_ratios.append(scenario)
            print(f"round {round_index + 1}: model p50 device/host {model:.3f}, scenario p50 device/host {scenario:.3f} "
                  f"({device['label']})")
        mean = lambda values: math.exp(sum(map(math.log, values)) / len(values))  # noqa: E731
        print(f"geometric mean over {args.rounds} rounds: model p50 {mean(model_ratios):.3f}, scenario p50 {mean(scenario_ratios):.3f}"
              f" (host: {os.uname().nodename}; load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
