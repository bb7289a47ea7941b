"""`mc run` on a shipped recipe, cold then warm: how long the main job takes on this machine, what
the artifact cache saves, and whether the comparison of the two runs passes (same machine, same
inputs: it must).

    python benchmarks/recipe_run.py [--recipe quickstart]

1. Cold: an empty mc cache (a fresh MC_HOME), every step runs. Target for quickstart: < 10 min here.
2. Warm: the same recipe again on the same cache; only the bench and the side-by-side timing run.
3. `mc report compare` of the warm run against the cold one, every check gated (exit 0 expected:
   same artifacts, and latency ratios within the noise tolerance on one machine).

Figures are wall times of this one run on a shared 2-core machine, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _mc(*args: str, env: dict[str, str]) -> tuple[int, float, str]:
    began = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "mc_cli.main", *args], env=env, capture_output=True, text=True)
    return completed.returncode, time.perf_counter() - began, completed.stdout + completed.stderr


def _steps(report_dir: Path) -> tuple[int, int, float]:
    report = json.loads((report_dir / "report.json").read_text())
    steps = [step for variant in report["variants"] for step in variant["steps"]]
    return sum(step["cached"] for step in steps), len(steps), sum(step["seconds"] for step in steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="quickstart")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mc-recipe-bench-") as tmp:
        env = {**os.environ, "MC_HOME": str(Path(tmp) / "home")}
        runs = {}
        for label in ("cold", "warm"):
            out = Path(tmp) / label
            code, seconds, log = _mc("run", args.recipe, "--out", str(out), env=env)
            if code not in (0, 1):
                sys.exit(f"{label} run failed (exit {code}):\n{log[-2000:]}")
            latest = next(out.iterdir()) / "latest"
            runs[label] = (seconds, latest, code)
        code, _, summary = _mc("report", "compare", str(runs["cold"][1]), str(runs["warm"][1]), env=env)
        cold_s, warm_s = runs["cold"][0], runs["warm"][0]
        print(f"recipe {args.recipe}")
        for label in ("cold", "warm"):
            seconds, latest, exit_code = runs[label]
            cached, total, step_s = _steps(latest)
            print(f"  {label}: {seconds / 60:.1f} min wall (exit {exit_code}); steps cached {cached}/{total}; step time {step_s:.0f} s")
        print(f"  warm / cold wall time: {warm_s / cold_s:.2f}x")
        print(f"  compare warm vs cold: exit {code} ({'pass' if code == 0 else 'FAIL'})")
        print(summary)

if __name__ == "__main__":
    main()
