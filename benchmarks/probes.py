"""Issue 13's catalogue ("Nothing lost, nothing stale, nothing outside"), re-run black-box as classes:
each probe runs the real `mc` in a subprocess, in its own temporary folder, and is clean when the
exit code is the right one, stderr is one line with no traceback, and nothing is left behind (no
stray file: no temp file, no sidecar without its artifact, nothing outside the folders named).

    python benchmarks/probes.py [--only 5,9,14] [--keep]

One line per probe (`clean` or `NOT CLEAN`, the item, what was tried, and why it is not clean),
then `clean/total`. Exit 0 when every probe is clean, 1 otherwise. A few minutes on 2 cores: the
recipe probes run `mc run` on a two-variant recipe of mobile-tiny with a one-second bench.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "src" / "mc" / "models" / "checkpoints"

TINY_RECIPE = """\
name: tiny
model: mobile-tiny
target: x86-cpu
reference: fp32
{extra}
variants:
  fp32:
    - export
  {variant}:
    - export
    - quantize: {quantize}
bench:
  scenario: latency
  duration: 1
  warmup: 2
"""


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    seconds: float


@dataclass
class Verdict:
    clean: bool
    why: str = ""


class Lab:
    """One probe's folder, with a private MC_HOME, the shared fixtures copied in, and `mc` to run."""

    def __init__(self, root: Path, fixtures: Path, home: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True)
        for name in ("m.onnx", "m.onnx.json", "s.pt"):
            shutil.copyfile(fixtures / name, root / name)
        self.env = {**os.environ, "MC_HOME": str(home), "PYTHONPATH": os.pathsep.join(sys.path)}

    def mc(self, *args: object, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 600,
           preexec: Callable[[], None] | None = None) -> Result:
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "mc_cli.main", *map(str, args)], cwd=cwd or self.root,
                              env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=timeout,
                              preexec_fn=preexec)
        return Result(done.returncode, done.stdout, done.stderr, time.perf_counter() - began)

    def interrupt(self, sig: int, after: float, *args: object) -> Result:
        """Start `mc ARGS`, send `sig` after `after` seconds, wait for it to end."""
        began = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "mc_cli.main", *map(str, args)], cwd=self.root, env=self.env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(after)
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=120)
        return Result(process.returncode, stdout, stderr, time.perf_counter() - began)

    def files(self, under: Path | None = None) -> set[str]:
        base = under or self.root
        return {str(path.relative_to(base)) for path in base.rglob("*")}

    def recipe(self, name: str = "tiny.yaml", extra: str = "", variant: str = "int8", quantize: str = "{mode: dynamic}") -> Path:
        path = self.root / name
        path.write_text(TINY_RECIPE.format(extra=extra, variant=variant, quantize=quantize))
        return path


# --- what clean means ---------------------------------------------------------------------------


def one_line_error(result: Result, code: int, contains: str = "") -> Verdict:
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    if result.code != code:
        return Verdict(False, f"exit {result.code}, not {code}: {_last(result)}")
    if "Traceback" in result.stderr + result.stdout:
        return Verdict(False, "a traceback")
    if len(lines) != 1:
        return Verdict(False, f"{len(lines)} lines on stderr: {_last(result)}")
    if not lines[0].startswith("error:"):
        return Verdict(False, f"stderr does not start with 'error:': {lines[0][:120]}")
    if contains and contains not in lines[0]:
        return Verdict(False, f"the line does not say {contains!r}: {lines[0][:160]}")
    return Verdict(True)


def nothing_left(lab: Lab, before: set[str], verdict: Verdict) -> Verdict:
    stray = sorted(lab.files() - before)
    if verdict.clean and stray:
        return Verdict(False, f"left behind: {', '.join(stray[:4])}")
    return verdict


def refused(lab: Lab, code: int, contains: str, *args: object, **kwargs) -> Verdict:
    before = lab.files()
    return nothing_left(lab, before, one_line_error(lab.mc(*args, **kwargs), code, contains))


def all_of(*verdicts: Verdict) -> Verdict:
    bad = [verdict.why for verdict in verdicts if not verdict.clean]
    return Verdict(not bad, "; ".join(bad))


def _last(result: Result) -> str:
    text = (result.stderr.strip() or result.stdout.strip()).splitlines()
    return text[-1][:160] if text else "(no output)"


# --- the probes, by item ------------------------------------------------------------------------


def p01_variant_name_traversal(lab: Lab) -> Verdict:
    recipe = lab.recipe(variant='"../../escaped"')
    before = lab.files()
    verdict = one_line_error(lab.mc("run", recipe, "--out", lab.root / "reports"), 2, "")
    outside = [path for path in lab.root.parent.glob("escaped*")] + [path for path in lab.root.glob("escaped*")]
    if outside:
        return Verdict(False, f"wrote outside the run folder: {outside[0]}")
    return nothing_left(lab, before, verdict)


def _run_steps(lab: Lab, recipe: Path) -> tuple[Result, list[dict]]:
    result = lab.mc("run", recipe, "--out", lab.root / "reports")
    reports = sorted((lab.root / "reports").glob("*/2*/report.json"))
    if not reports:
        return result, []
    report = json.loads(reports[-1].read_text())
    for path in reports:
        path.rename(path.with_name("seen.json"))
    return result, [step for variant in report["variants"] for step in variant["steps"]]


def p02_cache_sees_a_changed_calibration_folder(lab: Lab) -> Verdict:
    folder = lab.root / "calibration"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(4):
        np.save(folder / f"{index}.npy", rng.standard_normal((16, 1, 40)).astype(np.float32))
    recipe = lab.recipe(extra=f"calibration: {folder}", variant="int8s", quantize="{mode: static}")
    first, _ = _run_steps(lab, recipe)
    if first.code != 0:
        return Verdict(False, f"the first run failed (exit {first.code}): {_last(first)}")
    np.save(folder / "0.npy", 10 * rng.standard_normal((16, 1, 40)).astype(np.float32))
    second, steps = _run_steps(lab, recipe)
    if second.code != 0:
        return Verdict(False, f"the second run failed (exit {second.code}): {_last(second)}")
    stale = [step for step in steps if step["pass_name"] == "quantize" and step["cached"]]
    return Verdict(not stale, "the static quantize step came from the cache after its calibration folder changed" if stale else "")


def p03_damaged_cache_entry(lab: Lab) -> Verdict:
    recipe = lab.recipe()
    first, _ = _run_steps(lab, recipe)
    if first.code != 0:
        return Verdict(False, f"the first run failed (exit {first.code}): {_last(first)}")
    cache = Path(lab.env["MC_HOME"]) / "cache"
    damaged = list(cache.rglob("model.onnx"))
    for path in damaged:
        path.write_bytes(b"\x08\x07 truncated")
    second, steps = _run_steps(lab, recipe)
    if second.code == 0:
        # A variant sharing a prefix with one built earlier in this run rightly reuses that fresh entry.
        rebuilt = {step["cache_key"] for step in steps if not step["cached"]}
        reused = [step for step in steps if step["cached"] and step["cache_key"] not in rebuilt]
        return Verdict(not reused, f"{len(reused)} damaged cache entries were reused" if reused else "")
    return one_line_error(second, 2)


def _interrupted(lab: Lab, sig: int, code: int) -> Verdict:
    before = lab.files()
    result = lab.interrupt(sig, 10.0, "train", "mobile-tiny", "--epochs", "500", "--patience", "500", "-o", "t.pt")
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    if result.code != code:
        return Verdict(False, f"exit {result.code}, not {code}: {_last(result)}")
    if "Traceback" in result.stderr or len(lines) > 1:
        return Verdict(False, f"{len(lines)} lines on stderr: {_last(result)}")
    return nothing_left(lab, before, Verdict(True))


def p04_ctrl_c(lab: Lab) -> Verdict:
    return _interrupted(lab, signal.SIGINT, 130)


def p05_output_equal_to_input(lab: Lab) -> Verdict:
    os.link(lab.root / "m.onnx", lab.root / "hard.onnx")
    return all_of(
        refused(lab, 2, "never overwritten", "quantize", "m.onnx", "--mode", "dynamic", "-o", "m.onnx"),
        refused(lab, 2, "never overwritten", "quantize", "m.onnx", "--mode", "dynamic", "-o", "hard.onnx"),
        refused(lab, 2, "never overwritten", "prune", "s.pt", "--amount", "0.5", "-o", "s.pt"),
        refused(lab, 2, "never overwritten", "export", "s.pt", "-o", "s.pt"),
        refused(lab, 2, "never overwritten", "compile", "s.pt", "--backend", "torch-compile", "--device", "cpu", "-o", "s.pt"),
        refused(lab, 2, "never overwritten", "train", "s.pt", "--epochs", "1", "-o", "s.pt"),
        refused(lab, 2, "never overwritten", "distill", "mobile-tiny", "--student", "s.pt", "--epochs", "1", "-o", "s.pt"),
    )


def p06_sigterm(lab: Lab) -> Verdict:
    return _interrupted(lab, signal.SIGTERM, 128 + signal.SIGTERM)


def p07_umask_of_run_folders(lab: Lab) -> Verdict:
    recipe = lab.recipe()
    result = lab.mc("run", recipe, "--out", lab.root / "reports", preexec=lambda: os.umask(0o022))
    if result.code != 0:
        return Verdict(False, f"the run failed (exit {result.code}): {_last(result)}")
    private = [path for path in (lab.root / "reports").rglob("*") if path.is_dir() and (path.stat().st_mode & 0o055) != 0o055]
    return Verdict(not private, f"{private[0].relative_to(lab.root)} is {oct(private[0].stat().st_mode & 0o777)} under umask 022"
                   if private else "")


def p08_compare_a_report_without_figures(lab: Lab) -> Verdict:
    empty = {"schema": "mc.report/1", "recipe": {"name": "x"}, "variants": [{"name": "fp32", "status": "failed", "figures": {}}]}
    (lab.root / "a.json").write_text(json.dumps(empty))
    (lab.root / "b.json").write_text(json.dumps(empty))
    return refused(lab, 2, "", "report", "compare", "a.json", "b.json")


def p09_sidecar_left_behind(lab: Lab) -> Verdict:
    (lab.root / "d.onnx").mkdir()
    return all_of(refused(lab, 2, "existing folder", "export", "mobile-tiny", "-o", "d.onnx"),
                  refused(lab, 2, "existing folder", "quantize", "m.onnx", "--mode", "dynamic", "-o", "d.onnx"))


def p10_brackets(lab: Lab) -> Verdict:
    verdicts = []
    for folder in ("models[v2]", "x[/b]"):
        (lab.root / folder).mkdir(parents=True)
        shutil.copyfile(lab.root / "m.onnx", lab.root / folder / "m.onnx")
        result = lab.mc("quantize", f"{folder}/m.onnx", "--mode", "dynamic", "-o", f"{folder}/q.onnx")
        if result.code != 0 or f"wrote {folder}/q.onnx" not in result.stdout:
            verdicts.append(Verdict(False, f"{folder}: exit {result.code}, {_last(result)}"))
        verdicts.append(refused(lab, 2, f"{folder}/none.onnx", "eval", f"{folder}/none.onnx"))
    return all_of(*verdicts)


def p11_thread_counts(lab: Lab) -> Verdict:
    low = refused(lab, 2, "--threads", "quantize", "m.onnx", "--mode", "dynamic", "--threads", "-2", "-o", "t.onnx")
    high = lab.mc("quantize", "m.onnx", "--mode", "dynamic", "--threads", "9999", "-o", "t.onnx")
    cores = os.cpu_count() or 1
    capped = Verdict(high.code == 0 and f"{cores} thread(s)" in high.stdout and "capped" in high.stderr,
                     f"--threads 9999: exit {high.code}, not capped at {cores} with a note")
    return all_of(low, capped)


def p12_yaml_alias_bomb(lab: Lab) -> Verdict:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 8):  # 9**8 = 43 million strings once expanded: a bomb, yet bounded if something expands it
        previous = chr(ord("a") + level - 1)
        name = chr(ord("a") + level)
        lines.append(f"{name}: &{name} [*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous}]")
    (lab.root / "bomb.yaml").write_text("\n".join(lines) + "\nname: bomb\nmodel: *h\n")
    before = lab.files()
    try:
        result = lab.mc("run", "bomb.yaml", "--out", lab.root / "reports", timeout=30)
    except subprocess.TimeoutExpired:
        return Verdict(False, "still expanding after 30 s")
    if len(result.stderr) > 1000:
        return Verdict(False, f"a {len(result.stderr):,}-character error: the expansion was printed")
    return nothing_left(lab, before, one_line_error(result, 2))


def p13_bench_memory(lab: Lab) -> Verdict:
    """Peak memory of a bench must not grow with its length: 3 s against 60 s at 1000 Hz (60,000 requests; mc bench allows up to 1000 Hz)."""
    peaks = []
    for duration in (3, 60):
        code = ("import resource, subprocess, sys; "
                f"r = subprocess.run([sys.executable, '-m', 'mc_cli.main', 'bench', 'm.onnx', '--target', 'x86-cpu', "
                f"'--scenario', 'realtime', '--rate', '1000', '--duration', '{duration}', '--warmup', '8'], capture_output=True); "
                "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        done = subprocess.run([sys.executable, "-c", code], cwd=lab.root, env=lab.env, capture_output=True, text=True)
        status, peak = done.stdout.split()
        if int(status) not in (0, 1):
            return Verdict(False, f"bench of {duration} s exited {status}")
        peaks.append(int(peak) / 1024)
    growth = peaks[1] - peaks[0]
    return Verdict(growth < 32, f"peak RSS grew {growth:.0f} MiB from 3 s to 60 s at 1000 Hz ({peaks[0]:.0f} -> {peaks[1]:.0f} MiB)")


def _int64_model(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.INT64, ["N", 1, 40])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1, 40])
    graph = helper.make_graph([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)], "ids", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))


def _file_size_limit() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG, as a full disk would
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def p14_environment_and_input_errors(lab: Lab) -> Verdict:
    (lab.root / "a-file").write_text("not a folder")
    (lab.root / "zip.npz").write_bytes(b"PK\x03\x04 and nothing else")
    (lab.root / "latin1.yaml").write_bytes("name: caf\xe9\nmodel: mobile-tiny\n".encode("latin-1"))
    (lab.root / "factory.py").write_text(
        "import torch\nfrom torch import nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__(); "
        "self.t = nn.Linear(40, 10); self.c = nn.Linear(40, 1)\n    def forward(self, x):\n        s = x.flatten(1); "
        "return self.t(s), torch.sigmoid(self.c(s))\ndef make():\n    return M()\n")
    _int64_model(lab.root / "ids.onnx")
    (lab.root / "out-dir.onnx").mkdir()
    read_only = lab.root / "read-only"
    read_only.mkdir()
    read_only.chmod(0o555)
    checks = [
        refused(lab, 2, "a-file", "quantize", "m.onnx", "--mode", "dynamic", "-o", "a-file/q.onnx"),  # ENOTDIR (as root too)
        refused(lab, 2, "MC_HOME", "eval", "mobile-tiny", env={"MC_HOME": str(lab.root / "a-file")}),
        refused(lab, 2, "", "quantize", "m.onnx", "--mode", "dynamic", "-o", "big.onnx", preexec=_file_size_limit),
        refused(lab, 2, "zip.npz", "eval", "mobile-tiny", "--data", "zip.npz"),
        refused(lab, 2, "latin1.yaml", "run", "latin1.yaml", "--out", lab.root / "reports"),
        refused(lab, 2, "int64", "eval", "ids.onnx"),
        refused(lab, 2, "--temperature", "distill", "mobile-tiny", "--student", "mobile-tiny", "--temperature", "inf", "-o", "d.pt"),
        refused(lab, 2, "squeeze", "eval", "factory.py:make"),
        refused(lab, 2, "existing folder", "quantize", "m.onnx", "--mode", "dynamic", "-o", "out-dir.onnx"),
        refused(lab, 2, "", "run", lab.recipe(), "--out", "a-file"),
    ]
    if os.geteuid() != 0:  # root writes through any permission
        checks.append(refused(lab, 2, "permission denied", "quantize", "m.onnx", "--mode", "dynamic", "-o", "read-only/q.onnx"))
        (lab.root / "home-ro").mkdir(mode=0o555)
        checks.append(refused(lab, 2, "MC_HOME", "eval", "mobile-tiny", env={"MC_HOME": str(lab.root / "home-ro")}))
    read_only.chmod(0o755)
    return all_of(*checks)


def p15_usage_errors(lab: Lab) -> Verdict:
    cases = [("train", "mobile-tiny", "--epochs", "abc"), ("export", "mobile-tiny"), ("quantize", "m.onnx", "--mode", "int4"),
             ("quantise", "m.onnx"), ("compile", "m.onnx", "-o", "x.onnx")]
    return all_of(*(refused(lab, 2, "--help)", *case) for case in cases))


def p16_bad_model_files(lab: Lab) -> Verdict:
    (lab.root / "raw.pt").write_bytes(pickle.dumps({"weights": [1.0]}, protocol=4))
    hf = lab.root / "hf"
    hf.mkdir()
    (hf / "config.json").write_text('{"model_type": "bert"}')
    (hf / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    (hf / "pytorch_model.bin").write_bytes(b"not a torch archive")
    before = lab.files()
    raw = lab.mc("export", "raw.pt", "-o", "r.onnx")
    exact = "error: raw.pt is not an mc checkpoint (a pickle); mc loads checkpoints with weights_only"
    plain = Verdict(raw.stderr.strip() == exact, f"said: {_last(raw)}")
    broken = lab.mc("export", "hf", "-o", "hf-out")
    hf_verdict = one_line_error(broken, 2, "pytorch_model.bin")
    if "tensorflow" in broken.stderr.lower():
        hf_verdict = Verdict(False, "blames TensorFlow")
    return nothing_left(lab, before, all_of(one_line_error(raw, 2), plain, hf_verdict))


def p17_silently_accepted(lab: Lab) -> Verdict:
    np.savez(lab.root / "labels.npz", x=np.zeros((16, 1, 40), np.float32), y=np.full(16, 42, np.int64))
    return all_of(
        refused(lab, 2, "nosuchnode", "quantize", "m.onnx", "--mode", "dynamic", "--exclude-nodes", "nosuchnode", "-o", "q.onnx"),
        refused(lab, 2, "--input-shape", "export", "mobile-tiny", "--input-shape", "1,1,41", "-o", "i.onnx"),
        refused(lab, 2, "classes", "eval", "m.onnx", "--data", "labels.npz"),
        refused(lab, 2, "--round-to", "prune", "mobile-tiny", "--amount", "0.5", "--round-to", "100000", "--finetune-epochs", "0", "-o", "p.pt"),
        refused(lab, 2, "removes nothing", "prune", "mobile-tiny", "--amount", "0.999", "--finetune-epochs", "0", "-o", "p.pt"),
    )


def p18_external_data(lab: Lab) -> Verdict:
    import onnx

    (lab.root / "ext" / "sub").mkdir(parents=True)
    onnx.save(onnx.load(str(lab.root / "m.onnx")), str(lab.root / "ext" / "e.onnx"), save_as_external_data=True, location="e.data")
    result = lab.mc("eval", "ext/e.onnx")
    found = Verdict(result.code == 0, f"from another folder: exit {result.code}, {_last(result)}")
    proto = onnx.load(str(lab.root / "ext" / "e.onnx"), load_external_data=False)
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../e.data"
    onnx.save(proto, str(lab.root / "ext" / "sub" / "e.onnx"))
    return all_of(found, refused(lab, 2, "outside", "eval", "ext/sub/e.onnx"))


def p19_failed_run_leaves_no_run_folder(lab: Lab) -> Verdict:
    """(recipes/run) A recipe refused before any step runs leaves no run folder and no `latest`."""
    recipe = lab.root / "missing-model.yaml"
    recipe.write_text(TINY_RECIPE.format(extra="", variant="int8", quantize="{mode: dynamic}").replace("mobile-tiny", "no-such.pt"))
    return refused(lab, 2, "", "run", recipe, "--out", lab.root / "reports")


PROBES: list[tuple[int, str, Callable[[Lab], Verdict]]] = [
    (1, "a variant named ../../escaped", p01_variant_name_traversal),
    (2, "cache staleness: a changed file in a folder calibration set", p02_cache_sees_a_changed_calibration_folder),
    (3, "a damaged cache entry", p03_damaged_cache_entry),
    (4, "Ctrl-C during train", p04_ctrl_c),
    (5, "-o equal to the input (quantize, prune, export, compile, train, distill, a hard link)", p05_output_equal_to_input),
    (6, "SIGTERM during train", p06_sigterm),
    (7, "umask 022: run folders readable by others", p07_umask_of_run_folders),
    (8, "report compare of reports with no usable figures", p08_compare_a_report_without_figures),
    (9, "-o an existing folder (export, quantize): no sidecar left", p09_sidecar_left_behind),
    (10, "paths with [brackets]", p10_brackets),
    (11, "--threads -2 and 9999", p11_thread_counts),
    (12, "a YAML alias bomb", p12_yaml_alias_bomb),
    (13, "bench memory does not grow with the run's length", p13_bench_memory),
    (14, "environment and input errors are exit 2, not 3", p14_environment_and_input_errors),
    (15, "Click usage errors as one line", p15_usage_errors),
    (16, "a raw pickle .pt; a Hugging Face folder with a broken weights file", p16_bad_model_files),
    (17, "unknown nodes, zoo input shape, labels, pruning that removes nothing", p17_silently_accepted),
    (18, "external data from another folder; references outside refused", p18_external_data),
    (19, "a recipe refused up front leaves no run folder", p19_failed_run_leaves_no_run_folder),
]


def _fixtures(folder: Path, home: Path) -> None:
    folder.mkdir(parents=True)
    shutil.copyfile(SHIPPED / "mobile-tiny.pt", folder / "s.pt")
    env = {**os.environ, "MC_HOME": str(home), "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "mc_cli.main", "export", "mobile-tiny", "-o", str(folder / "m.onnx")],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"cannot export the fixture model: {done.stderr.strip()[-300:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated item numbers to run (default: all)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders for inspection")
    args = parser.parse_args()
    wanted = {int(item) for item in args.only.split(",") if item.strip()}
    sys.path.insert(0, str(REPO / "src"))
    scratch = Path(tempfile.mkdtemp(prefix="mc-probes-"))
    clean = total = 0
    try:
        _fixtures(scratch / "fixtures", scratch / "home")
        for item, title, probe in PROBES:
            if wanted and item not in wanted:
                continue
            lab = Lab(scratch / f"probe-{item:02d}", scratch / "fixtures", scratch / f"home-{item:02d}")
            shutil.copytree(scratch / "home", scratch / f"home-{item:02d}")  # the generated data, not regenerated per probe
            began = time.perf_counter()
            try:
                verdict = probe(lab)
            except Exception as error:  # a probe that cannot run is not clean either
                verdict = Verdict(False, f"the probe failed: {type(error).__name__}: {str(error)[:160]}")
            total += 1
            clean += verdict.clean
            mark = "clean    " if verdict.clean else "NOT CLEAN"
            print(f"{mark} {item:2d}  {title} ({time.perf_counter() - began:.0f} s)" + (f": {verdict.why}" if verdict.why else ""),
                  flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"kept {scratch}")
    print(f"{clean}/{total}")
    sys.exit(0 if clean == total else 1)


if __name__ == "__main__":
    main()
