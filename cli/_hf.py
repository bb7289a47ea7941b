"""Text models (Hugging Face directories, their exports, the `memory-minilm` zoo entry) in
`mc export`, `mc quantize` and `mc bench`: each command dispatches here when MODEL is a text model.
Parsing and rendering only; the work is in mc.hf."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from mc_cli._console import RichProgress, out, write_json_result
from mc_cli._errors import build_config


def _f(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _export(model: str, output: Path, opset: int | None, tolerance: float, task: str, corpus) -> Any:
    """Export MODEL (a Hugging Face directory or a text zoo name) to the text artifact directory `output`."""
    from mc.hf.source import inspect_hf_directory
    from mc.passes import run_pass

    if Path(model).is_dir():
        from mc.hf._extra import require_optimum
        from mc.hf.export import HfExportConfig

        directory = inspect_hf_directory(Path(model))
        require_optimum()
        config = build_config(HfExportConfig, task=task, opset=opset, tolerance=tolerance)
        out().print(f"exporting [bold]{directory.description}[/] through Optimum ({task}) -> {output}/")
        return run_pass(config, directory, output, corpus, RichProgress())
    from mc.hf._extra import require_transformers
    from mc.hf.export import MemoryExportConfig, check_output_directory
    from mc.models._registry import get_model_entry

    entry = get_model_entry(model)
    check_output_directory(output)
    require_transformers()
    config = build_config(MemoryExportConfig, opset=opset or 18, tolerance=tolerance)
    out().print(f"exporting [bold]{entry.name}[/] ({entry.description}) through torch.onnx -> {output}/")
    return run_pass(config, entry.build(), output, corpus, RichProgress(), entry.name)


def export_text(model: str, output: Path, opset: int | None, tolerance: float, task: str, data: Path | None, json_path: Path | None) -> None:
    from mc.errors import InputError
    from mc.hf.text import load_corpus

    if Path(model).is_dir() and (Path(model) / "model.onnx").is_file():
        raise InputError(f"{model} is already an exported text model (model.onnx beside its tokenizer); quantize or bench it instead")
    outcome = _export(model, output, opset, tolerance, task, load_corpus(data))
    parity = outcome.parity
    differences = "  ".join(f"{name} {value:.2e}" for name, value in parity["max_abs_diff"].items())
    if "optimum_check" in outcome.record.metrics:
        out().print(f"Optimum's output check (atol {tolerance:g}) [bold green]passed[/]")
    out().print(f"parity on real text ({parity['texts']} texts of {parity['data']}; batch sizes {parity['batch_sizes_checked']}): "
                f"max |torch - onnx| {differences} (tolerance {parity['tolerance']:g}) [bold green]passed[/]")
    if "pooled" in parity:
        out().print(f"mean-pooled embeddings, torch vs onnx: mean cosine {parity['pooled']['mean_cosine']:.6f}, min {parity['pooled']['min_cosine']:.6f}")
    size = outcome.record.size_bytes
    out().print(f"wrote {output}/: model.onnx ({size / 2**20:.1f} MiB) with its sidecar, config and tokenizer "
                f"({', '.join(outcome.record.model['tokenizer_files'])})")
    write_json_result(json_path, outcome.record.to_json())


def _text_source(model: str, destination: Path, corpus):
    """An exported text artifact as it is; a Hugging Face directory or zoo name is exported first, beside the output."""
    from mc.hf.source import is_hf_directory, open_text_artifact

    path = Path(model)
    if (path.is_dir() and not is_hf_directory(path)) or model.endswith(".onnx"):
        return open_text_artifact(path)
    fp32_dir = destination.with_name(destination.name.rsplit(".", 1)[0] + ".fp32")
    out().print(f"exporting {model} -> {fp32_dir}/ (the fp32 reference)")
    outcome = _export(model, fp32_dir, None, 1e-4, "feature-extraction", corpus)
    return open_text_artifact(outcome.directory)


def _default_output(model: str, mode: str) -> Path:
    path = Path(model)
    if path.suffix == ".onnx":
        path = path.parent
    if path.is_dir():
        return path.with_name(f"{path.name.removesuffix('.fp32')}.{mode}")
    return Path("out") / f"{model}.{mode}"


def quantize_text(model: str, mode: str, output: Path | None, target: str, per_channel: bool | None, reduce_range: bool | None,
                  weight_type: str | None, op_types: tuple[str, ...] | None, exclude_nodes: tuple[str, ...], threads: int | None,
                  data: Path | None, min_mean_cosine: float, min_cosine: float, show_nodes: bool, json_path: Path | None) -> None:
    from mc.errors import InputError
    from mc.hf.quantize import EMBEDDING_OPS, FidelityBudget, TextQuantizeConfig, auto, dynamic_plan
    from mc.hf.text import load_corpus
    from mc.passes import run_pass
    from mc.targets import load_target

    if mode not in ("dynamic", "auto"):
        raise InputError(f"--mode {mode}: text models are quantized with --mode dynamic or --mode auto (no calibration set to trust)")
    profile = load_target(target)
    threads = threads or profile.host_threads()
    destination = output or _default_output(model, mode)
    from mc.hf.export import check_output_directory

    check_output_directory(destination)
    corpus = load_corpus(data)
    budget = build_config(FidelityBudget, min_mean_cosine=min_mean_cosine, min_cosine=min_cosine)
    artifact = _text_source(model, destination, corpus)
    progress = RichProgress()
    if mode == "auto":
        overrides = {"per_channel": per_channel, "reduce_range": reduce_range, "weight_type": weight_type}
        out().print(f"auto search on {artifact.model_path}: target {profile.name}, {threads} thread(s); budget: mean cosine >= "
                    f"{budget.min_mean_cosine}, min >= {budget.min_cosine} on {corpus.description} (selection part)")
        outcome, result = auto(artifact, destination, profile, corpus, threads, budget, progress, overrides)
        _print_candidates(result.table())
        out().print(f"[bold]{result.verdict}[/]")
    else:
        try:
            plan = dynamic_plan(profile, op_types or EMBEDDING_OPS, per_channel, reduce_range, weight_type, exclude_nodes)
        except ValueError as error:
            raise InputError(f"invalid quantization options: {str(error).splitlines()[0]}") from None
        config = TextQuantizeConfig(plan=plan)
        out().print(f"quantizing {artifact.model_path}: {plan.label()} (target {profile.name}, {threads} thread(s))")
        outcome = run_pass(config, artifact, destination, corpus, threads, progress)
    metrics = outcome.record.metrics
    if show_nodes and "precision" in metrics:
        nodes = Table(title="per node")
        for column in ("node", "op", "precision", "kernel"):
            nodes.add_column(column)
        for row in metrics["precision"]["nodes"]:
            nodes.add_row(row["node"], row["op_type"], row["precision"], row["kernel"])
        out().print(nodes)
    out().print(f"quantized: {outcome.summary}")
    fidelity = outcome.fidelity
    if fidelity.get("texts"):
        out().print(f"fidelity to fp32 on {fidelity['data']}: mean cosine {fidelity['mean_cosine']:.4f}, min {fidelity['min_cosine']:.4f}")
    size = metrics["size"]
    out().print(f"wrote {destination}/: model.onnx {size['bytes'] / 2**20:.1f} MiB ({size['ratio']:.2f}x fp32) with its tokenizer and sidecar")
    write_json_result(json_path, outcome.record.to_json())
    if fidelity.get("texts") and not budget.accepts(fidelity) and mode == "dynamic":
        out().print(f"[yellow]below the fidelity budget (mean >= {budget.min_mean_cosine}, min >= {budget.min_cosine}); try --mode auto[/]")


def _print_candidates(rows: list[dict]) -> None:
    table = Table(title="auto search: every candidate (speed vs fp32 interleaved, 64 tokens; fidelity on the selection texts)")
    for column in ("candidate", "speed", "mean cos", "min cos", "MiB", "verdict"):
        table.add_column(column, justify="left" if column in ("candidate", "verdict") else "right")
    for row in rows:
        speed = "" if row["ratio_to_fp32"] is None else f"{1 / row['ratio_to_fp32']:.2f}x"
        table.add_row(row["label"], speed, _f(row.get("mean_cosine"), ".4f"), _f(row.get("min_cosine"), ".4f"),
                      f"{row['size_bytes'] / 2**20:.1f}", row["error"] or row["reason"])
    out().print(table)


def bench_text(artifacts: list[str], target: str, reference: str | None, queries: int, warmup: int, data: Path | None,
               json_path: Path | None) -> dict:
    from mc.hf.bench import TextBenchConfig, run_text_bench
    from mc.hf.text import load_corpus
    from mc.targets import load_target

    profile = load_target(target)
    config = build_config(TextBenchConfig, queries=queries, warmup=warmup)
    result = run_text_bench(artifacts, profile, config, load_corpus(data), RichProgress(), reference=reference)
    threads = result["target"]["threads"]
    out().print(f"text bench on [bold]{profile.name}[/]: {result['measurement']}, {threads} thread(s), batch 1, closed loop, "
                f"{config.queries} queries per length; fidelity vs {result['reference']} on {result['data']['fidelity_texts']} texts "
                f"of {result['data']['corpus']}")
    table = Table(title="latency (ms, p50 / p90), memory and fidelity to the reference")
    table.add_column("variant", overflow="fold")
    for length in config.lengths:
        table.add_column(f"{length} tok", justify="right")
    for column in ("peak RSS MB", "MiB", "size", "mean cos", "min cos"):
        table.add_column(column, justify="right")
    for variant in result["variants"]:
        if variant["status"] != "ok":
            continue
        cells = [variant["artifact"] + (" (reference)" if variant["is_reference"] else "")]
        for length in config.lengths:
            latency = variant["latency_ms"][str(length)]
            cells.append(f"{_f(latency['p50'], '.2f')} / {_f(latency['p90'], '.2f')}")
        fidelity = variant["fidelity"] or {}
        cells += [_f(variant["peak_rss_mb"], ".0f"), f"{variant['size_bytes'] / 2**20:.1f}", _f(variant["size_ratio"], ".2f") + "x",
                  _f(fidelity.get("mean_cosine"), ".4f"), _f(fidelity.get("min_cosine"), ".4f")]
        table.add_row(*cells)
    out().print(table)
    for variant in result["variants"]:
        if variant["status"] != "ok":
            out().print(f"[bold red]failed[/] {variant['artifact']}: {variant['error']}")
    write_json_result(json_path, result)
    return result
