"""The one pass contract: a typed config that declares what its pass does, and one handler signature.

Every pass is a module in this package with a config class derived from `PassConfig` and a handler
`run(config, source: Artifact, output: Path, ctx: PassContext) -> Artifact` registered for that
class (`mc.passes._registry.register_pass`). The declarations below are what everything else reads
instead of switching on pass names:
- the recipe loader: `pass_name` (the recipe key), the config's own fields, `accepts`/`produces`
  (a chain that feeds a pass the wrong kind of model is refused with its line);
- the recipe chain and its cache: `reads` (which inputs' content the cache key covers), the
  output file name, `check_available` (a backend this host lacks marks the variant unavailable);
- a scheduler (`mc run --executor ray`): `resources` (what one run of the pass occupies);
- the report and `mc report compare`: `trains` and `chosen_by_timing` (what no other CPU
  reproduces bit for bit is reported, not gated, across CPUs) and `summary` (the seed's
  "Implementation" column).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from mc.artifact import KIND_NAMES, Artifact, Kind
from mc.errors import InputError

# Inputs besides the parent artifact and the config whose content decides a pass's output:
# data: the labelled held-out set; calibration: the calibration samples; corpus: the text corpus;
# target: the target profile (presets, threads); host: this machine (for what timing chose here).
Input = Literal["data", "calibration", "corpus", "target", "host"]

# A CPU request no node can meet: the scheduler gives the pass a whole node (its largest one's CPUs),
# for what times candidates (nothing else may share its cores) or trains on every core it can get.
WHOLE_NODE: dict[str, float] = {"CPU": 1e6}

DEFAULT_FILE_NAMES: dict[str, str] = {
    "torch": "model.pt", "onnx": "model.onnx", "text-onnx": "model", "compiled": "model.bin", "text-torch": "model",
    "executorch": "model.pte", "openvino": "model.xml",
}


def spec_stem(spec: str) -> str:
    """A name for files made from a model: a zoo name as it is, a file's stem, a factory's function."""
    if ":" in spec and not spec.endswith((".pt", ".pth", ".onnx")):
        return Path(spec.split(":")[-1]).stem
    return Path(spec).stem if spec.endswith((".pt", ".pth", ".onnx")) else spec


class PassConfig(BaseModel):
    """Base of every pass config: frozen, no unknown keys, and the pass's declarations."""

    # No inf or NaN in any figure: `--temperature inf` would train on NaN losses, not fail as input.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    pass_name: ClassVar[str]
    accepts_kinds: ClassVar[tuple[Kind, ...]] = ("torch",)
    reads_inputs: ClassVar[tuple[Input, ...]] = ()

    def accepts(self) -> tuple[Kind, ...]:
        """The kinds of model this pass takes, as this config asks."""
        return self.accepts_kinds

    def produces(self, given: Kind) -> Kind:
        """The kind of model it returns when given `given`."""
        return given

    def reads(self, given: Kind) -> frozenset[Input]:
        """The inputs whose content decides the output (the cache key covers each)."""
        return frozenset(self.reads_inputs)

    def named_inputs(self) -> dict[str, str]:
        """Content hashes of files the config itself names (a student checkpoint): the cache key
        covers what they hold, not their paths."""
        return {}

    def trains(self) -> bool:
        """True when the output comes out of training: float reduction order differs across CPUs."""
        return False

    def chosen_by_timing(self) -> bool:
        """True when timing on this host chose what the output is (a measured search)."""
        return False

    def resources(self) -> dict[str, float]:
        """What one run of this pass occupies, as Ray resources ({"CPU": 2}, {"GPU": 1}): what a
        scheduler reserves for it. A request for more CPUs than the largest node has takes a whole
        node. One CPU by default; a pass that trains, or times in its own process, asks for more (its
        config says); a search that fans out (mc.fanout) needs one CPU itself: its candidates and
        its timing are tasks of their own."""
        return {"CPU": 1}

    def output_name(self, kind: Kind) -> str:
        """The file (or directory) name of its output inside a cache entry."""
        return DEFAULT_FILE_NAMES[kind]

    def default_output(self, source: Artifact) -> Path | None:
        """Where a command writes when no -o is given (None: the command needs -o)."""
        return None

    def check_output(self, output: Path, kind: Kind) -> None:
        """Refuse an output path that cannot hold what the pass makes (before any work)."""
        suffixes = {"torch": (".pt", ".pth"), "onnx": (".onnx",)}.get(kind)
        if suffixes and Path(output).suffix not in suffixes:
            what = "a torch checkpoint path" if kind == "torch" else "the output"
            raise InputError(f"-o {output}: {what} must end in {suffixes[0]}")
        if kind == "text-onnx":
            from mc.passes._text_output import check_text_output

            check_text_output(Path(output))

    def check_available(self) -> None:
        """Raise BackendUnavailable when this host cannot run the pass (before any work)."""

    def summary(self) -> str:
        """A few words for reports: what this step made."""
        return self.pass_name

    def refusal(self, given: Kind) -> str | None:
        """Why this pass cannot take `given` (None when it can), with how to fix the chain."""
        accepted = self.accepts()
        if given in accepted:
            return None
        wanted = " or ".join(KIND_NAMES[kind] for kind in accepted)
        hint = {"torch": "put it before `export`", "onnx": "put `export` before it (or start from an .onnx model)",
                "text-onnx": "put `export` before it", "text-torch": "start from a Hugging Face model directory"}
        return f"`{self.pass_name}` gets {KIND_NAMES[given]} here; it needs {wanted}: {hint.get(accepted[0], '')}".rstrip(": ")
