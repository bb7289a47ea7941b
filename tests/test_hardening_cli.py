"""Nothing lost, nothing stale, nothing outside: the hardening contract of issue 13, through the CLI.

An output never overwrites an input; an artifact and its sidecar are published both or neither;
user strings print verbatim; counts are validated; what the environment refuses (permissions, a full
disk, a file where a folder should be) and Click's usage errors are one line and exit 2, like every
other input error; bad files say what is wrong with them.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_one_line_error

FIXTURES = Path(__file__).parent / "fixtures"
SHIPPED = Path(__file__).resolve().parents[1] / "src" / "mc" / "models" / "checkpoints"


def _files(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory) -> Path:
    """mobile-tiny exported once for the module (a few seconds)."""
    from typer.testing import CliRunner

    from mc_cli.main import app

    path = tmp_path_factory.mktemp("hardening") / "tiny.onnx"
    result = CliRunner().invoke(app, ["export", "mobile-tiny", "-o", str(path)])
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def work(tmp_path, tiny_onnx) -> Path:
    """A folder holding an ONNX model and a checkpoint of mobile-tiny, as a user's project would."""
    shutil.copyfile(tiny_onnx, tmp_path / "m.onnx")
    shutil.copyfile(SHIPPED / "mobile-tiny.pt", tmp_path / "s.pt")
    return tmp_path


# --- 5: an output equal to an input ------------------------------------------------------------

SAME_AS_INPUT = {
    "quantize onto its onnx": ["quantize", "{w}/m.onnx", "--mode", "dynamic", "-o", "{w}/m.onnx"],
    "quantize onto a hard link of its onnx": ["quantize", "{w}/m.onnx", "--mode", "dynamic", "-o", "{w}/link.onnx"],
    "quantize onto its calibration set": ["quantize", "{w}/m.onnx", "--calibration", "{w}/cal.onnx", "-o", "{w}/cal.onnx"],
    "prune onto its checkpoint": ["prune", "{w}/s.pt", "--amount", "0.5", "-o", "{w}/s.pt"],
    "export a checkpoint onto itself": ["export", "{w}/s.pt", "-o", "{w}/s.pt"],
    "compile onto its checkpoint": ["compile", "{w}/s.pt", "--backend", "torch-compile", "--device", "cpu", "-o", "{w}/s.pt"],
    "train onto its checkpoint": ["train", "{w}/s.pt", "--epochs", "1", "-o", "{w}/s.pt"],
    "distill onto its student": ["distill", "mobile-tiny", "--student", "{w}/s.pt", "--epochs", "1", "-o", "{w}/s.pt"],
}


@pytest.mark.parametrize("case", sorted(SAME_AS_INPUT))
def test_an_output_that_is_an_input_is_refused(mc, work, case):
    os.link(work / "m.onnx", work / "link.onnx")
    shutil.copyfile(work / "m.onnx", work / "cal.onnx")
    before = {name: (work / name).read_bytes() for name in ("m.onnx", "s.pt")}
    result = mc(*[part.format(w=work) for part in SAME_AS_INPUT[case]])
    assert_one_line_error(result, 2, "never overwritten")
    assert {name: (work / name).read_bytes() for name in before} == before


def test_the_fp32_reference_name_is_not_an_output(mc, work):
    """`mc quantize ZOO -o m.fp32.onnx` would export the reference there and then overwrite it."""
    result = mc("quantize", "mobile-tiny", "--mode", "dynamic", "-o", work / "out" / "m.fp32.onnx")
    assert_one_line_error(result, 2, "fp32 reference")
    assert not (work / "out").exists()


# --- 9: a folder in the way; both or neither ---------------------------------------------------


@pytest.mark.parametrize("command", [["export", "mobile-tiny"], ["quantize", "{w}/m.onnx", "--mode", "dynamic"]])
def test_an_existing_folder_as_output_is_refused_and_leaves_nothing(mc, work, command):
    (work / "d.onnx").mkdir()
    before = _files(work)
    result = mc(*[part.format(w=work) for part in command], "-o", work / "d.onnx")
    assert_one_line_error(result, 2, "is an existing folder")
    assert _files(work) == before  # no d.onnx.json beside the folder


def _failing_final_rename(monkeypatch, code: int) -> None:
    """The artifact's own rename fails (a full disk, say); every other rename works."""
    import mc.artifact

    real = os.replace

    def replace(source, target, *args, **kwargs):
        if not str(target).endswith(".json"):
            raise OSError(code, os.strerror(code), str(source), None, str(target))
        return real(source, target, *args, **kwargs)

    monkeypatch.setattr(mc.artifact.os, "replace", replace)


def test_a_failed_publish_leaves_no_sidecar_and_no_temp_file(mc, work, monkeypatch):
    _failing_final_rename(monkeypatch, errno.ENOSPC)
    before = _files(work)
    result = mc("quantize", work / "m.onnx", "--mode", "dynamic", "-o", work / "q.onnx")
    assert_one_line_error(result, 2, "no space left")
    assert str(work / "q.onnx") in result.stderr
    assert _files(work) == before


def test_a_failed_publish_keeps_the_earlier_artifacts_sidecar(mc, work, monkeypatch):
    assert mc("quantize", work / "m.onnx", "--mode", "dynamic", "-o", work / "q.onnx").exit_code == 0
    earlier = (work / "q.onnx.json").read_bytes(), (work / "q.onnx").read_bytes()
    _failing_final_rename(monkeypatch, errno.ENOSPC)
    result = mc("quantize", work / "m.onnx", "--mode", "dynamic", "--per-tensor", "-o", work / "q.onnx")
    assert_one_line_error(result, 2, "no space left")
    assert ((work / "q.onnx.json").read_bytes(), (work / "q.onnx").read_bytes()) == earlier


# --- 10: brackets in user strings --------------------------------------------------------------


@pytest.mark.parametrize("folder", ["models[v2]", "x[/b]", "[bold]"])
def test_a_path_with_brackets_prints_verbatim(mc, work, folder):
    where = work / folder
    where.mkdir(parents=True)
    shutil.copyfile(work / "m.onnx", where / "m.onnx")
    result = mc("quantize", where / "m.onnx", "--mode", "dynamic", "-o", where / "q.onnx")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert f"wrote {where / 'q.onnx'}" in result.stdout
    assert f"quantizing {where / 'm.onnx'}" in result.stdout
    missing = mc("eval", where / "none.onnx")
    assert_one_line_error(missing, 2, str(where / "none.onnx"))


# --- 11: thread counts -------------------------------------------------------------------------


@pytest.mark.parametrize("count", ["-2", "0"])
def test_a_thread_count_below_one_is_refused(mc, work, count):
    result = mc("quantize", work / "m.onnx", "--mode", "dynamic", "--threads", count, "-o", work / "q.onnx")
    assert_one_line_error(result, 2, "--threads")
    assert not (work / "q.onnx").exists()


def test_a_thread_count_above_the_cores_is_capped_with_a_note(mc, work):
    cores = os.cpu_count() or 1
    result = mc("quantize", work / "m.onnx", "--mode", "dynamic", "--threads", "9999", "-o", work / "q.onnx")
    assert result.exit_code == 0, result.stderr
    assert f"{cores} thread(s)" in result.stdout
    assert f"threads 9999 capped at this host's {cores} cores" in result.stderr


def test_the_engine_refuses_a_thread_count_below_one():
    from mc.errors import InputError
    from mc.passes import PassContext

    with pytest.raises(InputError, match="threads -2"):
        PassContext.for_target("x86-cpu", -2)


# --- 14: the environment refuses ---------------------------------------------------------------


@pytest.mark.parametrize("code, says", [(errno.EACCES, "permission denied"), (errno.EROFS, "read-only file system")])
def test_an_unwritable_output_folder_is_exit_2(mc, work, monkeypatch, code, says):
    """Simulated: the tests may run as root, which no folder permission stops."""
    from mc import atomic

    def refuse(*args, dir=None, **kwargs):
        raise OSError(code, os.strerror(code), str(dir))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    for command in (["quantize", work / "m.onnx", "--mode", "dynamic"], ["export", "mobile-tiny"]):
        before = _files(work)
        result = mc(*command, "-o", work / "out" / "x.onnx")
        assert_one_line_error(result, 2, says)
        assert str(work / "out") in result.stderr
        assert _files(work) == before  # not even an empty out/


def test_a_file_where_the_output_folder_should_be_is_exit_2(mc, work):
    (work / "a-file").write_text("in the way")
    result = mc("quantize", work / "m.onnx", "--mode", "dynamic", "-o", work / "a-file" / "q.onnx")
    assert_one_line_error(result, 2, "a file is in the way")


def test_mc_home_that_is_a_file_is_exit_2(mc, work, monkeypatch):
    (work / "home").write_text("not a folder")
    monkeypatch.setenv("MC_HOME", str(work / "home"))
    result = mc("eval", "mobile-tiny")
    assert_one_line_error(result, 2, "set MC_HOME to a writable folder")


# --- 15: Click's usage errors ------------------------------------------------------------------

USAGE = {
    "not a number": (["train", "mobile-tiny", "--epochs", "abc"], "'--epochs'", "mc train --help"),
    "missing -o": (["export", "mobile-tiny"], "missing option '-o'", "mc export --help"),
    "unknown choice": (["quantize", "m.onnx", "--mode", "int4"], "'int4' is not one of", "mc quantize --help"),
    "unknown command": (["quantise", "m.onnx"], "no such command 'quantise'", "mc --help"),
    "missing --backend": (["compile", "m.onnx", "-o", "x.onnx"], "missing option '--backend'", "mc compile --help"),
    "unknown option": (["export", "mobile-tiny", "--bogus"], "no such option", "mc export --help"),
}


@pytest.mark.parametrize("case", sorted(USAGE))
def test_a_usage_error_is_one_line_with_the_help_to_try(mc, case):
    args, says, hint = USAGE[case]
    line = assert_one_line_error(mc(*args), 2, says)
    assert line.endswith(f"(try: {hint})"), line
    assert "╭" not in line and "Usage:" not in line


# --- 14: ordinary input errors that were "a bug in mc" -----------------------------------------


def _int64_input_model(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.INT64, ["N", 1, 40])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1, 40])
    graph = helper.make_graph([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)], "ids", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return path


def test_a_corrupt_npz_is_exit_2(mc, work):
    (work / "zip.npz").write_bytes(b"PK\x03\x04 a zip header and nothing else")
    (work / "text.npz").write_text("not numpy at all\n")
    assert_one_line_error(mc("eval", "mobile-tiny", "--data", work / "zip.npz"), 2, "cannot be read as NumPy data")
    assert_one_line_error(mc("eval", "mobile-tiny", "--data", work / "text.npz"), 2, "not a .npy or .npz file")


def test_an_onnx_model_with_an_integer_input_is_exit_2_for_classifier_commands(mc, work):
    model = _int64_input_model(work / "ids.onnx")
    assert_one_line_error(mc("eval", model), 2, "takes int64 input 'x'")
    assert_one_line_error(mc("quantize", model, "--mode", "dynamic", "-o", work / "q.onnx"), 2, "takes int64 input 'x'")
    assert not (work / "q.onnx").exists()


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_a_temperature_that_is_not_finite_is_refused(mc, work, value):
    result = mc("distill", "mobile-tiny", "--student", "mobile-tiny", "--temperature", value, "-o", work / "d.pt")
    assert_one_line_error(result, 2, "--temperature")


def test_a_factory_with_an_n_by_1_confidence_says_how_to_fix_it(mc, work):
    (work / "factory.py").write_text(
        "import torch\nfrom torch import nn\n\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n        super().__init__(); self.task = nn.Linear(40, 10); self.conf = nn.Linear(40, 1)\n"
        "    def forward(self, x):\n        s = x.flatten(1); return self.task(s), torch.sigmoid(self.conf(s))\n\n"
        "def make():\n    return M()\n"
    )
    assert_one_line_error(mc("eval", f"{work / 'factory.py'}:make"), 2, "confidence.squeeze(-1)")


# --- 16: bad files say what they are -----------------------------------------------------------


def test_a_raw_pickle_named_pt_is_said_plainly(mc, work):
    import pickle

    (work / "raw.pt").write_bytes(pickle.dumps({"weights": [1.0, 2.0]}, protocol=4))
    result = mc("export", work / "raw.pt", "-o", work / "r.onnx")
    line = assert_one_line_error(result, 2)
    assert line == f"error: {work / 'raw.pt'} is not an mc checkpoint (a pickle); mc loads checkpoints with weights_only"


def test_a_hugging_face_folder_with_broken_weights_names_the_file(mc, work):
    folder = work / "hf"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert"}')
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    (folder / "pytorch_model.bin").write_bytes(b"this is not a torch archive")
    line = assert_one_line_error(mc("export", folder, "-o", work / "out"), 2, "pytorch_model.bin is not a PyTorch weights file")
    assert "tensorflow" not in line.lower()


# --- 17: silently accepted, now refused with the valid names or range --------------------------


def test_an_unknown_node_to_exclude_is_refused_with_close_names(mc, work):
    result = mc("quantize", work / "m.onnx", "--mode", "dynamic", "--exclude-nodes", "node_MatMul_1x", "-o", work / "q.onnx")
    assert_one_line_error(result, 2, "no node named 'node_MatMul_1x'")
    assert "did you mean" in result.stderr and not (work / "q.onnx").exists()


def test_an_input_shape_on_a_zoo_model_is_refused(mc, work):
    result = mc("export", "mobile-tiny", "--input-shape", "1,1,41", "-o", work / "m41.onnx")
    assert_one_line_error(result, 2, "takes a fixed input shape 1,1,40")


def test_labels_outside_the_models_classes_are_refused(mc, work):
    np.savez(work / "labels.npz", x=np.zeros((16, 1, 40), np.float32), y=np.full(16, 42, np.int64))
    assert_one_line_error(mc("eval", work / "m.onnx", "--data", work / "labels.npz"), 2, "model has 10 classes (labels 0 to 9)")


@pytest.mark.parametrize("options, says", [
    (["--amount", "0.5", "--round-to", "100000"], "pick a --round-to below"),
    (["--amount", "0.9"], "removes nothing from mobile-tiny"),
])
def test_a_pruning_that_removes_nothing_is_refused(mc, work, options, says):
    result = mc("prune", "mobile-tiny", *options, "--finetune-epochs", "0", "-o", work / "p.pt")
    assert_one_line_error(result, 2, says)
    assert not (work / "p.pt").exists()


# --- 18: external data resolves against the model's folder -------------------------------------


def test_external_data_is_found_from_any_working_directory_and_kept_inside_the_folder(mc, work):
    import onnx

    (work / "ext").mkdir()
    onnx.save(onnx.load(str(work / "m.onnx")), str(work / "ext" / "e.onnx"), save_as_external_data=True, location="e.data")
    result = mc("eval", work / "ext" / "e.onnx")  # the tests' working directory is not ext/
    assert result.exit_code == 0, result.stderr
    assert "accuracy" in result.stdout

    proto = onnx.load(str(work / "ext" / "e.onnx"), load_external_data=False)
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../e.data"
    (work / "ext" / "sub").mkdir()
    onnx.save(proto, str(work / "ext" / "sub" / "e.onnx"))
    assert_one_line_error(mc("eval", work / "ext" / "sub" / "e.onnx"), 2, "points outside the model's folder")
