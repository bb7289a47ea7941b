"""The one verb a command runs a pass through, the same the recipe chain uses (`run_pass`), with
what a command adds: its default output, the refusal to overwrite its own input, and the fp32
export a pass on ONNX needs when it is given a torch model (exported, verified, kept beside the
output as the reference)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mc.artifact import Artifact
from mc.errors import InputError
from mc.passes._context import PassContext, source_artifact
from mc.passes._contract import PassConfig
from mc.passes._registry import run_pass


def _same_path(a: Path, b: Path | None) -> bool:
    return b is not None and Path(a).exists() and Path(b).exists() and Path(a).resolve() == Path(b).resolve()


def fp32_sibling(output: Path, kind: str) -> Path:
    """Where the fp32 export goes for `output`: out/m.static.onnx -> out/m.fp32.onnx (a directory for text)."""
    stem = output.name.split(".")[0] if output.suffix else output.name.rsplit(".", 1)[0]
    return output.with_name(f"{stem}.fp32" + (".onnx" if kind == "onnx" else ""))


def apply_pass(config: PassConfig, spec: str, output: Path | None, ctx: PassContext,
               log: Callable[[str], None] = lambda message: None, allow_untrained: bool = False) -> Artifact:
    """Run `config` on the model `spec` names into `output` (or the pass's default output)."""
    from mc.artifact import kind_of_spec
    from mc.passes.export import ExportConfig

    kind = kind_of_spec(spec)  # from the name alone: a pass that cannot take it says so before anything loads
    export = ExportConfig()
    refusal = config.refusal(kind)
    needs_export = refusal is not None and export.refusal(kind) is None and config.refusal(export.produces(kind)) is None
    if refusal is not None and not needs_export:
        raise InputError(f"{spec}: {refusal}")
    config.check_available()
    source = source_artifact(spec, ctx.input_shape, allow_untrained=allow_untrained)
    destination = output or config.default_output(source)
    if destination is None:
        raise InputError(f"{spec}: pass -o PATH for the output")
    if _same_path(destination, source.path):
        raise InputError(f"-o {destination} is the input itself; give another path (the input is never overwritten)")
    config.check_output(destination, config.produces(export.produces(kind) if needs_export else kind))
    if needs_export:
        reference = fp32_sibling(destination, export.produces(source.kind))
        log(f"exporting {spec} -> {reference} (the fp32 reference)")
        source = run_pass(export, source, reference, ctx)
    return run_pass(config, source, destination, ctx)
