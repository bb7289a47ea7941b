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


DIRECTORY_KINDS = ("text-onnx", "text-torch")  # what a pass writes as a folder (model, sidecar, tokenizer)


def _same_path(a: Path, b: Path | None) -> bool:
    """One file under two names too (a symlink, a hard link, `./m.onnx`): overwriting it loses the input."""
    import os

    return b is not None and Path(a).exists() and Path(b).exists() and os.path.samefile(a, b)


def _read_paths(config: PassConfig, source_path: Path | None, ctx: PassContext) -> list[Path]:
    """Every file the command reads: the model, its data, calibration set and corpus, and files the
    config names (a student checkpoint). The output may be none of them."""
    paths = [source_path, ctx.data_path, ctx.calibration_path, ctx.corpus_path]
    paths += [Path(value) for value in config.model_dump().values() if isinstance(value, str) and Path(value).is_file()]
    return [Path(path) for path in paths if path is not None]


def check_destination(destination: Path, produced: str, config: PassConfig, source_path: Path | None, ctx: PassContext) -> None:
    """Refuse, before any work, an output that would overwrite an input or that cannot be written as
    one file: an existing folder would take the sidecar but refuse the artifact's final rename."""
    for read in _read_paths(config, source_path, ctx):
        if _same_path(destination, read):
            what = "the input itself" if read == source_path else f"an input of this command ({read})"
            raise InputError(f"-o {destination} is {what}; give another path (inputs are never overwritten)")
    if destination.is_dir() and produced not in DIRECTORY_KINDS:
        raise InputError(f"-o {destination} is an existing folder; name the file to write inside it, "
                         f"e.g. {destination / config.output_name(produced)}")  # type: ignore[arg-type]


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
        if kind in ("onnx", "text-onnx") and not Path(spec).exists():  # a missing file is the first thing to fix
            raise InputError(f"model not found: {spec}: check the path, or pass a zoo name (`mc models`)")
        raise InputError(f"{spec}: {refusal}")
    config.check_available()
    source = source_artifact(spec, ctx.input_shape, allow_untrained=allow_untrained)
    destination = output or config.default_output(source)
    if destination is None:
        raise InputError(f"{spec}: pass -o PATH for the output")
    destination = Path(destination)
    produced = config.produces(export.produces(kind) if needs_export else kind)
    check_destination(destination, produced, config, source.path, ctx)
    config.check_output(destination, produced)
    if needs_export:
        reference = fp32_sibling(destination, export.produces(source.kind))
        if reference.absolute() == destination.absolute():
            raise InputError(f"-o {destination} is where the fp32 reference export of {spec} goes; "
                             f"name the output after its mode instead, e.g. {destination.with_name(destination.name.replace('.fp32', ''))}")
        log(f"exporting {spec} -> {reference} (the fp32 reference)")
        source = run_pass(export, source, reference, ctx)
    return run_pass(config, source, destination, ctx)
