"""Shared fixtures: an isolated mc cache per test session and a CLI runner over the real app."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mc_cli.main import app, hoist_global_flags

REPO = Path(__file__).resolve().parent.parent
PROGRESS_LINE = re.compile(r"\[\d+m\d\ds\] ")  # mc's plain progress lines (mc_cli._console.RichProgress)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `slow` run in CI (.ci/run sets MC_SLOW_TESTS=1) and are skipped, with the reason,
    in a default local run, so that one stays fast."""
    if os.environ.get("MC_SLOW_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="slow: set MC_SLOW_TESTS=1 to run it (.ci/run does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def isolated_mc_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tests never read or write the user's cache; the generated data is shared within the session."""
    home = tmp_path_factory.mktemp("mc-home")
    previous = os.environ.get("MC_HOME")
    os.environ["MC_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("MC_HOME", None)
    else:
        os.environ["MC_HOME"] = previous


class Mc:
    """Runs `mc ...` in-process through Typer's CliRunner, with stdout and stderr kept apart."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str):
        return self.runner.invoke(app, hoist_global_flags([str(arg) for arg in args]))


@pytest.fixture
def mc() -> Mc:
    return Mc()


def make_tiny_bert(path: Path) -> Path:
    """A 2-layer, 32-wide BERT with a WordPiece vocabulary of real words from the text corpus: a
    Hugging Face model directory built here (no downloads)."""
    import re
    from collections import Counter

    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from mc.data.text import default_corpus

    words = Counter(w for text in default_corpus().paragraphs for w in re.findall(r"[a-z]+|[^\sa-z]", text.lower()))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(word for word, _ in words.most_common(600))
    path.mkdir(parents=True)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=160)
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers", reason="the hf extra is part of the test extra: pip install -e '.[test]'")
    pytest.importorskip("optimum.exporters.onnx")
    return make_tiny_bert(tmp_path_factory.mktemp("hf") / "tiny-bert")


def assert_one_line_error(result, exit_code: int = 2, contains: str | None = None) -> str:
    """The bad-input contract: the exit code, one error line on stderr, no traceback. Progress lines
    (`[0m03s] export: ...`, printed where stderr is no terminal, as under the test runner) may come
    before it: they say what was running when the error came."""
    assert result.exit_code == exit_code, (result.exit_code, result.stdout, result.stderr)
    lines = [line for line in result.stderr.strip().splitlines() if line.strip() and not PROGRESS_LINE.match(line)]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert lines[0].startswith("error:"), lines[0]
    if contains:
        assert contains in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mobile-tiny exported once per session (its sidecar beside it): packaging and remote-bench tests share it."""
    path = tmp_path_factory.mktemp("tiny-onnx") / "tiny.onnx"
    result = Mc()("export", "mobile-tiny", "-o", path)
    assert result.exit_code == 0, result.stderr
    return path


# A two-layer classifier factory for the MNIST-1D shape, for tests that lower or search a model whose
# build must take seconds (lowering mobile-tiny to ExecuTorch int8 alone takes minutes on 2 cores).
SMALL = '''
import torch
from torch import nn


class Small(nn.Module):
    """Two layers XNNPACK takes whole: ExecuTorch and optimize tests lower it in seconds."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 8, 3, padding=1)
        self.head = nn.Linear(320, 10)

    def forward(self, x):
        logits = self.head(torch.relu(self.conv(x)).flatten(1))
        return logits, torch.softmax(logits, -1).amax(-1)


def make():
    torch.manual_seed(0)
    return Small()
'''


@pytest.fixture(scope="session")
def small_factory(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("factory") / "small.py"
    path.write_text(SMALL)
    return f"{path}:make"
