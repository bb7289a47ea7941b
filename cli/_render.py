"""What every command prints the same way: metrics on one line, the "wrote X" line, --json, and
the pass context a command builds from its options (the engine decides every default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.markup import escape

from mc_cli._console import RichProgress, out, write_json_result


def format_metrics(report: dict) -> str:
    auroc = report.get("confidence_auroc")
    text = (
        f"accuracy {report['accuracy']:.2%}  confidence AUROC {'n/a' if auroc is None else f'{auroc:.3f}'}  "
        f"ECE {report['expected_calibration_error']:.3f}"
    )
    if report.get("top1_agreement") is not None:
        text += f"  top-1 agreement {report['top1_agreement']:.2%}"
    return text


def pass_context(target: str = "x86-cpu", threads: int | None = None, data: Path | None = None,
                 calibration: Path | None = None, corpus: Path | None = None, input_shape: str | None = None):
    """The engine's PassContext for a command: the same defaults `mc run` uses."""
    from mc.models.source import parse_input_shape
    from mc.passes import PassContext

    return PassContext.for_target(target, threads, progress=RichProgress(), data_path=data, calibration_path=calibration,
                                  corpus_path=corpus, input_shape=parse_input_shape(input_shape) if input_shape else None)


def say(message: str) -> None:
    out().print(message)


def wrote(artifact, json_path: Path | None, detail: str = "") -> None:
    """The closing line of a command that made an artifact, and its record as --json."""
    record = artifact.record
    path = artifact.path
    if path is not None and Path(path).is_dir():
        out().print(f"wrote {escape(str(path))}/: model.onnx ({record.size_bytes / 1e6:.1f} MB) with its sidecar, config and tokenizer{detail}")
    else:
        out().print(f"wrote {escape(str(path))}{detail} and {escape(str(path))}.json")
    write_json_result(json_path, record.to_json())


def parity_line(parity: dict[str, Any]) -> str:
    differences = "  ".join(f"{name} {value:.2e}" for name, value in parity["max_abs_diff"].items())
    where = f"{parity['texts']} texts of {parity['data']}" if "texts" in parity else parity["data"]
    return (f"parity on {escape(where)}, batch sizes {parity['batch_sizes_checked']}: max |torch - onnx| {differences} "
            f"(tolerance {parity['tolerance']:g}) [bold green]passed[/]")
