"""What every pass of one command or recipe shares: the target, threads, data, calibration set,
text corpus and progress, loaded once and on demand; and turning what a user typed as MODEL into
the `Artifact` a chain starts from.

The CLI builds one for a command, the recipe chain one for a run: the same defaults either way
(the MNIST-1D test set for evaluation, the shipped calibration set, Python's own reference docs
as the text corpus), decided here and nowhere else.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mc.artifact import Artifact, Kind, kind_of_spec
from mc.errors import InputError
from mc.fanout import FanOut, SerialFanOut
from mc.hashing import sha256_path
from mc.progress import Progress, SilentProgress
from mc.targets import TargetProfile, load_target


@dataclass
class PassContext:
    target: TargetProfile
    threads: int
    progress: Progress = field(default_factory=SilentProgress)
    data_path: Path | None = None  # labelled held-out data (classifiers) [default: MNIST-1D test set]
    calibration_path: Path | None = None  # [default: the shipped MNIST-1D calibration set]
    corpus_path: Path | None = None  # text models' corpus [default: Python's reference docs]
    input_shape: tuple[int, ...] | None = None  # a factory's sample shape (batch axis excluded)
    notes: list[str] = field(default_factory=list)  # for people: what was adjusted (threads capped at the cores)
    fan_out: FanOut = field(default_factory=SerialFanOut)  # where a search's candidates are built and timed (mc.fanout)
    # the run's artifact cache where `mc run` has one (mc.recipes.cache.ArtifactCache: key, lookup, produce):
    # a search keeps its candidates there as units of their own; None: built every time
    cache: Any = None
    _evaluation: dict[tuple[int, ...], Any] = field(default_factory=dict, repr=False)
    _calibration: dict[tuple[int, ...], np.ndarray | None] = field(default_factory=dict, repr=False)
    _selection: dict[tuple[int, ...], Any] = field(default_factory=dict, repr=False)
    _corpus: Any = field(default=None, repr=False)

    @classmethod
    def for_target(cls, target: str | TargetProfile = "x86-cpu", threads: int | None = None, **values: Any) -> "PassContext":
        """`threads` None: the target's, capped at this host's cores. A count the user gave must be
        at least 1; more than the cores only oversubscribes them (and spawns as many threads per
        session), so it is capped too, with a note saying so."""
        profile = load_target(target) if isinstance(target, str) else target
        notes: list[str] = []
        if threads is None:
            threads = profile.host_threads()
        else:
            cores = os.cpu_count() or 1
            if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
                raise InputError(f"threads {threads!r}: give a whole number from 1 to this host's {cores} cores")
            if threads > cores:
                notes.append(f"threads {threads} capped at this host's {cores} cores")
                threads = cores
        return cls(target=profile, threads=threads, notes=notes, **values)

    # --- models -------------------------------------------------------------------------------
    def torch_model(self, artifact: Artifact):
        """A `torch`-kind artifact loaded (`mc.models.source.TorchModel`)."""
        from mc.models.source import load_torch_model

        return load_torch_model(artifact.location, self.input_shape)

    def onnx_model(self, artifact: Artifact):
        from mc.onnx_file import load_onnx_model

        return load_onnx_model(Path(artifact.location))

    # --- data ---------------------------------------------------------------------------------
    def evaluation(self, sample_shape: tuple[int, ...]):
        """Labelled held-out data for a model taking `sample_shape` (`mc.data.evaluation`)."""
        from mc.data.evaluation import evaluation_data

        key = tuple(sample_shape)
        if key not in self._evaluation:
            self._evaluation[key] = evaluation_data(key, self.data_path)
        return self._evaluation[key]

    def selection(self, sample_shape: tuple[int, ...]):
        """What a search selects on (`mc.data.evaluation.EvaluationData`): for the built-in data, its
        validation split, so the test set stays for the final figures; a user's own data otherwise."""
        from mc.data.evaluation import EvaluationData, builtin_dataset
        from mc.data.mnist1d import INPUT_SHAPE, load_mnist1d
        from mc.hashing import sha256_arrays

        key = tuple(sample_shape)
        if key not in self._selection:
            builtin = builtin_dataset(self.data_path)
            if (self.data_path is None or builtin) and key == INPUT_SHAPE:
                _, validation = load_mnist1d(builtin or "mnist1d").train_validation_split(0.1, seed=0)
                self._selection[key] = EvaluationData(validation.x, validation.y, f"{builtin or 'MNIST-1D'} validation split (seed 0)",
                                                      sha256_arrays(validation.x, validation.y))
            else:
                self._selection[key] = self.evaluation(sample_shape)
        return self._selection[key]

    def calibration(self, sample_shape: tuple[int, ...]) -> np.ndarray | None:
        """Calibration samples for static int8: the user's, else the shipped set (MNIST-1D shape only)."""
        key = tuple(sample_shape)
        if key not in self._calibration:
            if self.calibration_path is None:
                from mc.data.calibration import default_calibration

                self._calibration[key] = default_calibration(key)
            else:
                from mc.data.samples import load_samples

                self._calibration[key] = load_samples(self.calibration_path, key).x
        return self._calibration[key]

    def corpus(self):
        """Real text for text models (`mc.data.text.TextCorpus`)."""
        if self._corpus is None:
            from mc.data.text import load_corpus

            self._corpus = load_corpus(self.corpus_path)
        return self._corpus

    # --- cache keys ---------------------------------------------------------------------------
    def input_digests(self, inputs: frozenset[str]) -> dict[str, Any]:
        """The content of each input a pass declares it reads, as cache keys need it."""
        digests: dict[str, Any] = {}
        if "data" in inputs:
            from mc.data.evaluation import builtin_dataset

            builtin = builtin_dataset(self.data_path)
            digests["data"] = (f"built-in {builtin} test set" if builtin else sha256_path(self.data_path) if self.data_path
                               else "MNIST-1D test set (mnist1d defaults)")
        if "calibration" in inputs:
            from mc.data.calibration import DEFAULT_CALIBRATION_DESCRIPTION

            digests["calibration"] = sha256_path(self.calibration_path) if self.calibration_path else DEFAULT_CALIBRATION_DESCRIPTION
        if "corpus" in inputs:
            from mc.data.text import DEFAULT_DESCRIPTION

            digests["corpus"] = sha256_path(self.corpus_path) if self.corpus_path else DEFAULT_DESCRIPTION
        if "target" in inputs:
            digests["target"] = self.target.model_dump(mode="json", exclude={"source"})
            digests["threads"] = self.threads
        if "host" in inputs:  # what timing chose is only valid where it was timed
            digests["host"] = {"node": platform.node(), "machine": platform.machine(), "processor": platform.processor()}
        return digests


def source_artifact(spec: str, input_shape: tuple[int, ...] | None = None, allow_untrained: bool = False) -> Artifact:
    """What a user typed as MODEL, checked and hashed: a bad model is an input error before any work.
    `allow_untrained`: a zoo name with no checkpoint yet is a model to train."""
    kind: Kind = kind_of_spec(spec)
    if kind == "torch":
        from mc.models.source import load_torch_model

        model = load_torch_model(spec, input_shape, allow_untrained=allow_untrained)
        return Artifact("torch", spec, model.sha256 or f"unhashed:{spec}", model.checkpoint_path)
    if kind == "onnx":
        from mc.onnx_file import load_onnx_model

        onnx_model = load_onnx_model(Path(spec))
        return Artifact("onnx", spec, onnx_model.sha256, onnx_model.path)
    if kind == "text-onnx":
        from mc.runtimes.text import open_text_artifact

        text = open_text_artifact(spec)
        return Artifact("text-onnx", spec, text.sha256, text.directory)
    if kind == "text-torch":
        from mc.models.text_source import text_source_digest

        return Artifact("text-torch", spec, text_source_digest(spec), Path(spec) if Path(spec).is_dir() else None)
    path = Path(spec)
    if not path.is_file():
        raise InputError(f"compiled artifact not found: {spec}: check the path, or build it with `mc compile`")
    from mc.artifact import companion_files
    from mc.hashing import sha256_files

    return Artifact(kind, spec, sha256_files([path, *companion_files(path)]), path)
