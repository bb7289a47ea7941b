"""Does the family know what it knows? Accuracy, confidence AUROC and ECE of each member trained with
mc's defaults, after structured pruning with and without the confidence recalibration, and of a
distilled mobile-tiny against one trained alone; on MNIST-1D and on mnist1d-hard. Several seeds, mean
and spread (sample standard deviation).

    python benchmarks/self_knowledge.py train   [--models mobile-tiny,mobile-small,mobile-base] [--seeds 0,1,2] [--data mnist1d]
    python benchmarks/self_knowledge.py prune   [--models mobile-small] [--amounts 0.3,0.5] [--seeds 0,1,2]
    python benchmarks/self_knowledge.py distill [--teachers mobile-small,mobile-base] [--seeds 0,1,2]
    python benchmarks/self_knowledge.py table   (the summary of everything measured so far)

Every run appends one JSON line to --log (default $MC_HOME/self_knowledge.jsonl), so parts run in the
background, separately, and `table` summarises them. Training times on a shared machine are noisy:
compare them only within one run, and say what else the machine was doing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from mc.passes import PassContext, apply_pass  # noqa: E402
from mc.paths import mc_home  # noqa: E402
from mc.progress import SilentProgress  # noqa: E402


def _context() -> PassContext:
    return PassContext.for_target("x86-cpu", threads=1, progress=SilentProgress())


def _scores(report: dict) -> dict:
    return {"accuracy": report["accuracy"], "auroc": report["confidence_auroc"], "ece": report["expected_calibration_error"]}


_FRESH: dict[str, object] = {}


def _fresh(checkpoint: Path, data: str) -> dict:
    """Scores on 20,000 fresh samples of the same generator: the 1,000-sample test set holds 7-30
    errors at these accuracies, so its AUROC alone carries a standard error near 0.02."""
    from mc.data.mnist1d import fresh_samples
    from mc.metrics import classification_report
    from mc.models.source import load_torch_model
    from mc.runtimes import predict_all
    from mc.runtimes.torch_eager import TorchPredictor

    samples = _FRESH.setdefault(data, fresh_samples(data, count=20_000, seed=777))
    logits, confidence = predict_all(TorchPredictor(load_torch_model(str(checkpoint)).module), samples.x)
    return {"fresh": _scores(classification_report(logits, confidence, samples.y))}


def _log(path: Path, row: dict) -> None:
    with open(path, "a") as handle:
        handle.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


def _trained(model: str, seed: int, data: str, workdir: Path, log: Path, extra: dict | None = None) -> Path:
    from mc.passes.train import TrainConfig

    output = workdir / f"{model}-{data}-s{seed}{'-' + '-'.join(f'{k}{v}' for k, v in (extra or {}).items()) if extra else ''}.pt"
    if output.exists():
        return output
    config = TrainConfig(seed=seed, data=data, **(extra or {}))
    started = time.perf_counter()
    artifact = apply_pass(config, model, output, _context(), allow_untrained=True)
    metrics = artifact.record.metrics
    _log(log, {"kind": "train", "model": model, "seed": seed, "data": data, "config": extra or {},
               **_scores(metrics["test"]), **_fresh(output, data), "seconds": round(time.perf_counter() - started, 1), "epochs": metrics["epochs_run"]})
    return output


def train(args, log: Path, workdir: Path) -> None:
    extra = json.loads(args.config) if args.config else None
    for data in args.data.split(","):
        for model in args.models.split(","):
            for seed in args.seeds:
                _trained(model, seed, data, workdir, log, extra)


def prune(args, log: Path, workdir: Path) -> None:
    from mc.evaluation import test_set_report
    from mc.models.source import load_torch_model
    from mc.passes.prune import PruneConfig

    for data in args.data.split(","):
        for model in args.models.split(","):
            for seed in args.seeds:
                source = _trained(model, seed, data, workdir, log)
                unpruned = {**_scores(test_set_report(load_torch_model(str(source)).module, data=data)), **_fresh(source, data)}
                for amount in args.amounts:
                    for recalibrate in (False, True):
                        extra = json.loads(args.prune_config) if args.prune_config else {}
                        config = PruneConfig(amount=amount, seed=seed, recalibrate=recalibrate, data=data, **extra)
                        output = workdir / f"{source.stem}-p{amount}-r{int(recalibrate)}{'-' + '-'.join(f'{k}{v}' for k, v in extra.items()) if extra else ''}.pt"
                        started = time.perf_counter()
                        artifact = apply_pass(config, str(source), output, _context())
                        after = artifact.record.metrics["after"]["test"]
                        _log(log, {"kind": "prune", "model": model, "seed": seed, "data": data, "amount": amount, "config": extra,
                                   "recalibrate": recalibrate, **_scores(after), **_fresh(output, data), "unpruned": unpruned,
                                   "seconds": round(time.perf_counter() - started, 1)})


def distill(args, log: Path, workdir: Path) -> None:
    from mc.passes.distill import DistillConfig

    for data in args.data.split(","):
        for seed in args.seeds:
            _trained("mobile-tiny", seed, data, workdir, log)  # the same budget, alone
            for teacher in args.teachers.split(","):
                source = _trained(teacher, seed, data, workdir, log)
                config = DistillConfig(student="mobile-tiny", seed=seed, data=data)
                output = workdir / f"tiny-from-{source.stem}.pt"
                started = time.perf_counter()
                artifact = apply_pass(config, str(source), output, _context())
                _log(log, {"kind": "distill", "teacher": teacher, "seed": seed, "data": data,
                           **_scores(artifact.record.metrics["student"]["test"]), **_fresh(output, data), "seconds": round(time.perf_counter() - started, 1)})


def _summary(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    if not values:
        return "-"
    mean = statistics.fmean(values) * scale
    spread = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {spread:.{digits}f} (n={len(values)})"


def table(log: Path) -> None:
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row["kind"] == "train":
            key = ("train", row["data"], row["model"], json.dumps(row.get("config") or {}))
        elif row["kind"] == "prune":
            key = ("prune", row["data"], f"{row['model']} structured {row['amount']:.0%} {json.dumps(row.get('config') or {})}",
                   "recalibrated" if row["recalibrate"] else "not recalibrated")
        else:
            key = ("distill", row["data"], f"mobile-tiny from {row['teacher']}", "")
        groups.setdefault(key, []).append(row)
    print("| what | data | model | variant | accuracy % | AUROC | ECE | seconds | fresh 20k: accuracy % | AUROC |\n"
          "|---|---|---|---|---|---|---|---|---|---|")

    def fresh(members: list[dict], key: str, scale: float, digits: int) -> str:
        return _summary([m["fresh"][key] for m in members if "fresh" in m], scale, digits)

    for key, members in sorted(groups.items()):
        print(f"| {' | '.join(key)} | {_summary([m['accuracy'] for m in members], 100)} | "
              f"{_summary([m['auroc'] for m in members], 1, 3)} | {_summary([m['ece'] for m in members], 1, 3)} | "
              f"{_summary([m['seconds'] for m in members], 1, 0)} | {fresh(members, 'accuracy', 100, 2)} | {fresh(members, 'auroc', 1, 3)} |")
        if key[0] == "prune":
            unpruned = [m["unpruned"] for m in members]
            print(f"| | | | unpruned source | {_summary([m['accuracy'] for m in unpruned], 100)} | "
                  f"{_summary([m['auroc'] for m in unpruned], 1, 3)} | | | {fresh(unpruned, 'accuracy', 100, 2)} | {fresh(unpruned, 'auroc', 1, 3)} |")
            gaps = [m["fresh"]["auroc"] - m["unpruned"]["fresh"]["auroc"] for m in members if "fresh" in m and "fresh" in m["unpruned"]]
            if gaps:
                print(f"| | | | AUROC minus unpruned's, per seed (fresh 20k) | | {', '.join(f'{g:+.3f}' for g in gaps)} | | | | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["train", "prune", "distill", "table"])
    parser.add_argument("--models", default="mobile-tiny,mobile-small,mobile-base")
    parser.add_argument("--teachers", default="mobile-small,mobile-base")
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--amounts", type=lambda s: [float(v) for v in s.split(",")], default=[0.3, 0.5])
    parser.add_argument("--data", default="mnist1d", help="mnist1d, mnist1d-hard or both, comma-separated")
    parser.add_argument("--config", help="extra train settings as JSON, e.g. '{\"hard_confidence\": false}'")
    parser.add_argument("--prune-config", help="extra prune settings as JSON, e.g. '{\"learning_rate\": 0.003}'")
    parser.add_argument("--log", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    log = args.log or mc_home() / "self_knowledge.jsonl"
    workdir = args.workdir or mc_home() / "self_knowledge"
    workdir.mkdir(parents=True, exist_ok=True)
    if args.what == "table":
        table(log)
    else:
        {"train": train, "prune": prune, "distill": distill}[args.what](args, log, workdir)


if __name__ == "__main__":
    main()
