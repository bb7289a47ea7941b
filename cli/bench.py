"""`mc bench ARTIFACT... --target T --scenario realtime|latency|throughput`: each variant in a fresh
process under the target's limits; classifiers in the real-time meta pipeline, text models closed
loop at 16/64/128 tokens with their embedding fidelity, in one run. Parsing and rendering only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from mc_cli._console import RichProgress, out, print_table, write_json_result
from mc_cli._errors import build_config, handles_errors


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _ratio4(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _timing_columns(scenario_name: str, settings: dict[str, Any]) -> list[str]:
    if scenario_name == "realtime":
        return [
            "p50 ms", "p99 ms", "max ms",
            f"miss>{settings['target_latency_ms']:g}", f"miss>{settings['max_latency_ms']:g}", "dropped",
        ]
    if scenario_name == "latency":
        return ["p50 ms", "p90 ms", "p99 ms", "max ms", "queries"]
    return ["samples/s", "batch p50 ms", "model samples/s"]


def _timing_cells(scenario_name: str, scenario: dict[str, Any]) -> list[str]:
    latency = scenario["latency_ms"]
    if scenario_name == "realtime":
        misses = scenario["misses"]
        return [
            _ms(latency["p50"]), _ms(latency["p99"]), _ms(latency["max"]),
            str(misses["over_target"]), str(misses["over_limit"]), f"{scenario['dropped']}/{scenario['scheduled']}",
        ]
    if scenario_name == "latency":
        return [_ms(latency["p50"]), _ms(latency["p90"]), _ms(latency["p99"]), _ms(latency["max"]), str(scenario["requests"])]
    model = scenario["model_samples_per_s"]
    return [f"{scenario['samples_per_s']:.0f}", _ms(scenario["batch_ms"]["p50"]), "n/a" if model is None else f"{model:.0f}"]


def _of_peak(peak: dict[str, Any] | None) -> str:
    if not peak or peak.get("fraction") is None:
        return "n/a"
    return f"{peak['gops']:.3g} · {peak['fraction']:.2%} {peak['peak_precision']}"


def render_pipeline(result: dict[str, Any], variants: list[dict[str, Any]]) -> None:
    """The classifiers: latency in the scenario, accuracy, the pipeline's quality and own cost."""
    measurement, scenario = result["measurement"], result["scenario"]
    settings, target = result["settings"], result["target"]
    label, estimate_label = measurement["label"], measurement["estimate_label"]
    console = out()
    console.print(f"[bold]{scenario['name']}[/] scenario on [bold]{escape(target['name'])}[/]: {escape(label)}; "
                  f"{escape(measurement['thread_note'])}")
    if measurement.get("isa_note"):
        console.print(f"[yellow]{escape(measurement['isa_note'])}[/]")
    if scenario["name"] == "realtime":
        console.print(
            f"{scenario['rate_hz']:g} Hz {scenario['arrivals']} arrivals for {scenario['duration_s']:g} s; latency from each "
            f"request's scheduled arrival; misses over {settings['target_latency_ms']:g} ms (target) and "
            f"{settings['max_latency_ms']:g} ms (limit: the deadline; later requests are dropped and counted)"
        )
    ok = [variant for variant in variants if variant["status"] == "ok"]

    timing = Table(title=f"latency, {label}" + (f" | est.: {estimate_label}" if estimate_label else ""))
    timing.add_column("variant", overflow="fold")
    for column in _timing_columns(scenario["name"], settings):
        timing.add_column(column, justify="right")
    if estimate_label:  # the same quantity as the measured columns: the scenario's latency, for the target
        timing.add_column("est. p50 ms", justify="right")
        if scenario["name"] == "realtime":
            timing.add_column("est. p99 ms", justify="right")
    timing.add_column("peak RSS MB", justify="right")
    with_peak = any(variant["measured"].get("peak") for variant in ok)
    if with_peak:
        timing.add_column("GOP/s · of peak", justify="right")
    for variant in ok:
        cells = [escape(variant["artifact"]), *_timing_cells(scenario["name"], variant["measured"]["scenario"])]
        if estimate_label:
            estimated = variant["estimated"] or {}
            cells.append(_ms(estimated.get("latency_ms")))
            if scenario["name"] == "realtime":
                cells.append(_ms(((estimated.get("pipeline") or {}).get("latency_ms") or {}).get("p99")))
        cells.append("n/a" if variant["peak_rss_mb"] is None else f"{variant['peak_rss_mb'] * 2**20 / 1e6:.0f}")
        if with_peak:
            cells.append(_of_peak(variant["measured"].get("peak")))
        timing.add_row(*cells)

    quality = Table(title="accuracy on the held-out set, and the pipeline's quality")
    quality.add_column("variant", overflow="fold")
    for column in ("accuracy", "AUROC", "ECE", "top-1 agr.", "quality", "level"):
        quality.add_column(column, justify="right")
    for variant in ok:
        accuracy = variant["accuracy"] or {}
        control = variant["measured"]["scenario"]["quality_control"]
        changes = len(control["changes"])
        quality.add_row(
            escape(variant["artifact"]), _percent(accuracy.get("accuracy")), _ratio(accuracy.get("confidence_auroc")),
            _ratio(accuracy.get("expected_calibration_error")), _percent(accuracy.get("top1_agreement")),
            _ratio(variant["pipeline_quality"]["overall"]),
            control["final_level"] + (f" ({changes} change{'s' if changes != 1 else ''})" if changes else ""),
        )
    if ok:
        print_table(timing, console)
        print_table(quality, console)
    for variant in ok:
        overhead = variant["measured"]["pipeline_overhead"]["added_ms"]
        model = variant["measured"]["model_latency_ms"]
        console.print(
            f"{escape(variant['artifact'])}: model alone p50 {_ms(model['p50'])} ms; the pipeline's own cost p50 "
            f"{_ms(overhead['p50'])} ms, p99 {_ms(overhead['p99'])} ms ({label})"
        )
        estimate = variant["estimated"]
        if estimate is None:
            continue
        if estimate.get("model_latency_ms") is None:
            console.print(f"  {escape(estimate['label'])}: not available ({escape(str(estimate['reason']))})")
        else:
            console.print(
                f"  {estimate['label']}: model alone p50 {estimate['model_latency_ms']:.2f} ms: a roofline estimate at the "
                f"efficiency reached here ({estimate['efficiency']:.2%} of this host's roofline), not a measurement"
            )
            pipeline = estimate.get("pipeline")
            if pipeline:
                latency = pipeline["latency_ms"]
                console.print(
                    f"  {estimate['label']}: the {scenario['name']} scenario p50 {_ms(latency.get('p50'))} ms, p99 "
                    f"{_ms(latency.get('p99'))} ms, {pipeline['dropped']} dropped, final level {pipeline['final_level']}: "
                    f"{escape(pipeline['method'])} ({pipeline['service_ms']:.2f} ms per request: the model's estimate + the "
                    "pipeline's own cost measured here)"
                )
    host_peak = measurement.get("host_peak")
    if with_peak and host_peak and "fp32_gflops" in host_peak:
        int8 = f"{host_peak['int8_gops']:.1f} GOP/s ({host_peak['int8_kernel']})" if host_peak.get("int8_gops") else "not measured"
        console.print(f"[dim]of peak: the model's ops at its p50 against this host's measured GEMM peak at "
                      f"{host_peak['threads']} thread(s): fp32 {host_peak['fp32_gflops']:.1f} GFLOP/s (torch.mm), int8 {int8}"
                      + (f"; measured {host_peak['measured']} (--remeasure-peak measures it again)" if host_peak.get("measured") else
                         " (measured by an older mc: --remeasure-peak measures it again)") + "[/dim]")
    console.print(
        "[dim]n/a: too few queries for that percentile (p90 needs 64, p99 needs 662). AUROC, ECE: the confidence "
        "head (type-2 AUROC, calibration error); quality: the pipeline's mean overall quality score. MB = 10^6 bytes.[/dim]"
    )
    if ok:
        from mc.report.content import quality_levels_note

        console.print(f"[dim]level: {escape(quality_levels_note())}[/dim]")


def render_text(result: dict[str, Any], variants: list[dict[str, Any]]) -> None:
    """The text models: latency per sequence length, memory, size and fidelity to the text reference."""
    measurement, target = result["measurement"], result["target"]
    text = measurement["text"]
    ok = [variant for variant in variants if variant["status"] == "ok"]
    if not ok:
        return  # the failures are listed with every other
    reference = next((variant["fidelity"]["reference"] for variant in ok if variant.get("fidelity")), None)
    console = out()
    console.print(f"text models on [bold]{escape(target['name'])}[/]: {escape(measurement['label'])}, {measurement['threads']} thread(s), "
                  f"{text['method']}, {text['queries']} queries per length; fidelity vs {escape(reference or 'n/a')} "
                  f"on {text['fidelity_texts']} texts of {escape(str(text['corpus']))}")
    reference_size = next((variant["size_bytes"] for variant in ok if variant["artifact"] == reference), None)
    table = Table(title="latency (ms, p50 / p90), memory and fidelity to the reference")
    table.add_column("variant", overflow="fold")
    for length in text["lengths"]:
        table.add_column(f"{length} tok", justify="right")
    for column in ("peak RSS MB", "MB", "size", "mean cos", "min cos"):
        table.add_column(column, justify="right")
    for variant in ok:
        cells = [escape(variant["artifact"]) + (" (reference)" if variant["artifact"] == reference else "")]
        for length in text["lengths"]:
            latency = variant["measured"]["latency_by_length_ms"][str(length)]
            cells.append(f"{_ms(latency['p50'])} / {_ms(latency['p90'])}")
        fidelity = variant["fidelity"] or {}
        ratio = variant["size_bytes"] / reference_size if reference_size else None
        cells += ["n/a" if variant["peak_rss_mb"] is None else f"{variant['peak_rss_mb'] * 2**20 / 1e6:.0f}",
                  f"{variant['size_bytes'] / 1e6:.1f}", "n/a" if ratio is None else f"{ratio:.2f}x",
                  _ratio4(fidelity.get("mean_cosine")), _ratio4(fidelity.get("min_cosine"))]
        table.add_row(*cells)
    print_table(table, console)


def render(result: dict[str, Any]) -> None:
    """Each workload's own tables, then every failure and every note, whatever its workload."""
    by_workload: dict[str, list[dict[str, Any]]] = {}
    for variant in result["variants"]:
        by_workload.setdefault(variant["workload"], []).append(variant)
    if by_workload.get("pipeline") or not by_workload:
        render_pipeline(result, by_workload.get("pipeline", []))
    if by_workload.get("text") and "text" in result["measurement"]:
        render_text(result, by_workload["text"])
    console = out()
    for variant in result["variants"]:
        render_energy(variant)
    for variant in result["variants"]:
        for note in variant.get("notes", []):
            console.print(f"[yellow]note[/] {escape(variant['artifact'])}: {escape(str(note))}")
    for variant in result["variants"]:
        if variant["status"] != "ok":
            console.print(f"[bold red]failed[/] {escape(variant['artifact'])}: {escape(str(variant['error']))}")


def render_energy(variant: dict[str, Any]) -> None:
    """Energy per inference and mean power at the real-time rate, each labelled estimated or measured."""
    energy = variant.get("energy") if variant.get("status") == "ok" else None
    if not energy:
        return
    parts = []
    for estimate in [energy["target"], *energy.get("other_targets", {}).values()]:
        if estimate.get("joules_per_inference") is None:
            continue
        mean = "" if estimate.get("mean_w") is None else f", mean {estimate['mean_w']:.2f} W"
        parts.append(f"{estimate['label']}: {estimate['joules_per_inference'] * 1e3:.1f} mJ/inference{mean} at {estimate['rate_hz']:g} Hz")
    measured = energy.get("measured") or {}
    if measured.get("readable"):
        parts.append(f"measured (RAPL): {measured['joules_per_inference'] * 1e3:.1f} mJ/inference, mean {measured['mean_w']:.2f} W")
    elif measured:
        parts.append("measured: RAPL not readable here")
    out().print(f"{escape(variant['artifact'])}: energy " + "; ".join(escape(part) for part in parts))


def render_remote(result: dict[str, Any]) -> None:
    """The device's figures beside this host's and the roofline estimate, so the estimate can be checked."""
    console = out()
    for variant in result["variants"]:
        if variant["status"] != "ok":
            continue
        device = variant["measured"]["model_latency_ms"]["p50"]
        host = ((variant.get("host") or {}).get("measured") or {}).get("model_latency_ms", {}).get("p50")
        estimate = (variant.get("estimated") or {}).get("model_latency_ms")
        console.print(f"{escape(variant['artifact'])}: model p50 {_ms(device)} ms {escape(variant['measured']['label'])}; "
                      f"{_ms(host)} ms {escape(variant['host']['label'])}"
                      + (f"; {estimate:.2f} ms {escape(variant['estimated']['label'])}" if estimate is not None else ""))


@handles_errors
def bench(
    artifacts: list[str] = typer.Argument(..., help="Variants: zoo names, checkpoints (.pt), .onnx files, file.py:factory, exported text model directories."),
    target: str = typer.Option(..., "--target", help="Target profile name (see `mc targets`) or a .yaml profile."),
    scenario: str = typer.Option("realtime", "--scenario", help="realtime (open loop at the rate), latency (closed loop, batch 1) or throughput (batched)."),
    duration: float = typer.Option(10.0, "--duration", help="Seconds of measurement per variant."),
    rate: float | None = typer.Option(None, "--rate", help="Arrivals per second in the realtime scenario (default: the processor's 20 Hz)."),
    arrivals: str = typer.Option("fixed", "--arrivals", help="fixed or poisson arrivals (realtime)."),
    reference: str | None = typer.Option(None, "--reference", help="The fp32 reference: top-1 agreement for classifiers, embedding fidelity for text models."),
    batch_size: int = typer.Option(32, "--batch-size", help="Samples per batch (throughput)."),
    queries: int | None = typer.Option(None, "--queries", help="Minimum queries of the latency scenario \\[default: 662, so p99 is reported]; timed calls per length for text models \\[default: 200]."),
    warmup: int = typer.Option(32, "--warmup", help="Untimed requests before measuring."),
    seed: int = typer.Option(0, "--seed", help="Seed of the Poisson arrivals."),
    fixed_quality: bool = typer.Option(False, "--fixed-quality", help="Keep the quality level fixed (no adaptive control)."),
    remeasure_peak: bool = typer.Option(False, "--remeasure-peak", help="Measure this host's GEMM peak again (it is cached per host, thread count and library versions)."),
    input_shape: str | None = typer.Option(None, "--input-shape", help="A factory's input shape, batch first, e.g. 1,1,40."),
    workload: str = typer.Option("auto", "--workload", help="auto (each model's own), pipeline or text: the workload every variant must run."),
    data: Path | None = typer.Option(None, "--data", help="Text models: a UTF-8 text file for fidelity and timing \\[default: Python's own reference docs]. Classifiers: a built-in data setting (mnist1d-hard) \\[default: MNIST-1D test set]."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the result (schema mc.bench/2) here."),
    remote: str | None = typer.Option(None, "--remote", help="Bench on the device over SSH: [user@]host[:port] (ONNX models and bundles; the host's run stays beside it)."),
    ssh_option: list[str] = typer.Option([], "--ssh-option", help="Passed to ssh/scp as -o (repeatable), e.g. IdentityFile=~/.ssh/pi."),
    remote_python: str = typer.Option("python3", "--remote-python", help="The device's interpreter that has mc installed."),
) -> None:
    """Bench variants under a target profile, each in a fresh process; classifiers and text models in one run.

    Classifiers run in the real-time meta pipeline: latency, misses, accuracy. Off the target, figures are measured on this host (threads capped) and, separately, estimated for the target by a calibrated roofline model.

    Text models (exported directories): latency at 16/64/128 tokens, peak memory, and fidelity (cosine of mean-pooled embeddings) to --reference or the first text variant. Exit 1 when a variant fails.
    """
    from mc.bench.config import BenchConfig
    from mc.remote.bench import bench_on_target
    from mc.errors import CheckFailed

    from mc.data.evaluation import builtin_dataset

    counts = {} if queries is None else {"queries": queries, "text_queries": queries}
    dataset = builtin_dataset(data)  # a built-in setting's name scores the classifiers; a file is a text corpus
    if dataset is not None:
        data = None
    config = build_config(
        BenchConfig, {"text_queries": "--queries", "corpus": "--data", "ssh_options": "--ssh-option"}, workload=workload, scenario=scenario, duration=duration,
        rate=rate, arrivals=arrivals, batch_size=batch_size, warmup=warmup, seed=seed, adaptive_quality=not fixed_quality,
        remeasure_peak=remeasure_peak, corpus=data, remote=remote, ssh_options=tuple(ssh_option), remote_python=remote_python, **counts,
    )
    shape = None
    if input_shape:
        from mc.models.source import parse_input_shape  # imports torch: only when asked for

        shape = parse_input_shape(input_shape)
    result = bench_on_target(list(artifacts), target, config, RichProgress(), reference=reference, input_shape=shape, data=dataset)
    render(result)
    if "device" in result["measurement"]:
        render_remote(result)
    write_json_result(json_path, result)
    failed = [variant for variant in result["variants"] if variant["status"] != "ok"]
    if failed:
        names = ", ".join(variant["artifact"] for variant in failed)
        raise CheckFailed(f"{len(failed)} of {len(result['variants'])} variants failed ({names}); the others were benched")


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
