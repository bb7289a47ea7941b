"""The bad-input contract: one clear line with the fix, exit 2, no traceback, nothing half-written."""

from pathlib import Path

import numpy as np
import pytest

from conftest import assert_one_line_error

FIXTURES = Path(__file__).parent / "fixtures"
USER = FIXTURES / "user_models.py"


@pytest.fixture
def broken_files(tmp_path):
    (tmp_path / "syntax.py").write_text("def make(:\n    pass\n")
    (tmp_path / "corrupt.onnx").write_bytes(b"\x08\x07garbage that is not a protobuf" * 10)
    (tmp_path / "corrupt.pt").write_bytes(b"not a zip archive")
    np.savez(tmp_path / "wrong_shape.npz", x=np.zeros((16, 40), np.float32), y=np.zeros(16, np.int64))
    np.savez(tmp_path / "wrong_dtype.npz", x=np.zeros((16, 1, 40), np.int64), y=np.zeros(16, np.int64))
    np.savez(tmp_path / "unlabelled.npz", x=np.zeros((16, 1, 40), np.float32))
    return tmp_path


CASES = {
    "missing checkpoint": (["export", "{tmp}/missing.pt", "-o", "{out}"], "checkpoint not found"),
    "missing onnx": (["eval", "{tmp}/missing.onnx"], "ONNX file not found"),
    "unknown model": (["export", "mobile-smal", "-o", "{out}"], "did you mean 'mobile-small'"),
    "untrained zoo model": (["export", "mobile-base", "-o", "{out}"], "run `mc train mobile-base` first"),
    "factory file missing": (["export", "{tmp}/nope.py:make", "-o", "{out}"], "factory file not found"),
    "factory syntax error": (["export", "{tmp}/syntax.py:make", "-o", "{out}"], "failed to import: SyntaxError"),
    "factory module missing": (["export", "no_such_package.models:make", "-o", "{out}"], "cannot import module 'no_such_package.models'"),
    "factory attribute missing": (["export", f"{USER}:make_nothing", "-o", "{out}"], "has no callable 'make_nothing'"),
    "factory returns no module": (["export", f"{USER}:not_a_model", "-o", "{out}"], "not a torch.nn.Module"),
    "factory wrong input shape": (["export", f"{USER}:make_two_headed", "-o", "{out}"], "pass --input-shape"),
    "malformed input shape": (["export", f"{USER}:make_two_headed", "--input-shape", "1,a,3", "-o", "{out}"], "not a list of integers"),
    "model torch.export cannot trace": (["export", f"{USER}:make_unexportable", "-o", "{out}"], "cannot be exported to ONNX"),
    "corrupt onnx": (["eval", "{tmp}/corrupt.onnx"], "not a valid ONNX model"),
    "corrupt checkpoint": (["export", "{tmp}/corrupt.pt", "-o", "{out}"], "not a loadable mc checkpoint"),
    "data wrong shape": (["export", "mobile-tiny", "--data", "{tmp}/wrong_shape.npz", "-o", "{out}"], "add the channel axis"),
    "data wrong dtype": (["eval", "mobile-tiny", "--data", "{tmp}/wrong_dtype.npz"], "floating-point"),
    "data missing": (["eval", "mobile-tiny", "--data", "{tmp}/none.npz"], "data file not found"),
    "data without labels": (["eval", "mobile-tiny", "--data", "{tmp}/unlabelled.npz"], "has no labels"),
    "output not onnx": (["export", "mobile-tiny", "-o", "{tmp}/out/model.bin"], "must end in .onnx"),
    "opset too old": (["export", "mobile-tiny", "--opset", "12", "-o", "{out}"], "--opset"),
    "export an onnx": (["export", "{tmp}/corrupt.onnx", "-o", "{out}"], "already exported"),
    "train bad fraction": (["train", "mobile-tiny", "--val-fraction", "0.9", "-o", "{tmp}/out/t.pt"], "--val-fraction"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gets_one_line_and_exit_2(mc, broken_files, case):
    template, expected = CASES[case]
    out_dir = broken_files / "out"
    args = [part.format(tmp=broken_files, out=out_dir / "model.onnx") for part in template]
    result = mc(*args)
    assert_one_line_error(result, 2, expected)
    assert not out_dir.exists() or list(out_dir.iterdir()) == []  # nothing half-written


def test_debug_shows_the_traceback(mc, broken_files):
    result = mc("eval", broken_files / "corrupt.onnx", "--debug")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and "not a valid ONNX model" in result.stderr
