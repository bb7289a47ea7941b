"""Real English text for judging and timing text models: prose not written for any test.

The default corpus is the Python standard library's own reference documentation as it ships with
the interpreter (`pydoc_data.topics`: the language reference and library topics that `help()`
shows). Paragraphs with enough words and mostly letters are kept (code listings are not), in a
fixed order, and split by position into a selection part (what `--mode auto` judges candidates
on) and an evaluation part (the figures reported), so no candidate is chosen on the data that
reports it. A user's own corpus is a UTF-8 text file, paragraphs separated by blank lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mc.errors import InputError

MIN_WORDS = 25
MIN_LETTER_SHARE = 0.75
DEFAULT_DESCRIPTION = "Python stdlib reference documentation (pydoc_data.topics)"


@dataclass(frozen=True)
class TextCorpus:
    paragraphs: tuple[str, ...]
    description: str

    def split(self, selection: int, evaluation: int) -> tuple[list[str], list[str]]:
        """Disjoint parts: every other paragraph for selection, the rest for evaluation (a topic
        spans several consecutive paragraphs, so both parts see every topic)."""
        chosen = list(self.paragraphs[0::2][:selection])
        reported = list(self.paragraphs[1::2][:evaluation])
        return chosen, reported

    def long_paragraphs(self, min_chars: int, count: int) -> list[str]:
        """Paragraphs long enough to fill a sequence of the asked length without padding."""
        found = [text for text in self.paragraphs if len(text) >= min_chars]
        return found[:count] if found else list(self.paragraphs[:count])


def _paragraphs(text: str) -> list[str]:
    kept = []
    for block in re.split(r"\n\s*\n", text):
        words = " ".join(block.split())
        if len(words.split()) < MIN_WORDS or words.startswith((">>>", "...")):
            continue
        if sum(char.isalpha() for char in words) / len(words) >= MIN_LETTER_SHARE:
            kept.append(words)
    return kept


def default_corpus() -> TextCorpus:
    from pydoc_data.topics import topics

    paragraphs = [paragraph for key in sorted(topics) for paragraph in _paragraphs(topics[key])]
    return TextCorpus(tuple(paragraphs), DEFAULT_DESCRIPTION)


def load_corpus(path: Path | None) -> TextCorpus:
    if path is None:
        return default_corpus()
    path = Path(path)
    if not path.is_file():
        raise InputError(f"text file not found: {path}: give a UTF-8 text file, paragraphs separated by blank lines")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text; give a plain text file, paragraphs separated by blank lines") from None
    paragraphs = _paragraphs(text)
    if len(paragraphs) < 8:
        raise InputError(
            f"{path} has {len(paragraphs)} paragraph(s) of at least {MIN_WORDS} words; give at least 8 "
            "(separated by blank lines) so that fidelity figures mean something"
        )
    return TextCorpus(tuple(paragraphs), str(path))
