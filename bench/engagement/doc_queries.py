"""The example questions of docs/analytics.md, read from the doc itself.

The test that checks their answers (tests/docs/test_analytics_queries.py) and the benchmark that
times them (`python -m bench.engagement`) both take the queries from here, so what they run is
exactly what an analyst copies. Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ANALYTICS_DOC = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"
SECTION = "## Example questions"
DIALECTS = ("sqlite", "postgresql")
LANGUAGES = ("sql", "python")
_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class DocFormatError(ValueError):
    """The doc's code blocks are not laid out as questions (a heading, then its blocks)."""


@dataclass(frozen=True)
class Block:
    language: str
    """`sql` or `python`."""
    dialect: str | None
    """None: runs on both databases; else the one it is written for."""
    text: str
    line: int
    """The line of the opening fence (1-based), for messages."""


@dataclass(frozen=True)
class Question:
    title: str
    blocks: tuple[Block, ...]

    def sql(self, dialect: str) -> str | None:
        """The SQL that answers the question on `dialect` (its own block first)."""
        own = [b for b in self.blocks if b.language == "sql" and b.dialect == dialect]
        portable = [b for b in self.blocks if b.language == "sql" and b.dialect is None]
        chosen = own or portable
        return chosen[0].text if chosen else None

    @property
    def python(self) -> str | None:
        blocks = [b for b in self.blocks if b.language == "python"]
        return blocks[0].text if blocks else None


def parameters(sql: str) -> list[str]:
    """The named parameters (`:tenant`) a query binds, in first-use order."""
    return list(dict.fromkeys(_PARAMETER.findall(sql)))


def _fences(lines: list[str]) -> list[tuple[int, str, str]]:
    """(line number, info string, body) of every fenced block."""
    found, index = [], 0
    while index < len(lines):
        opening = lines[index].strip()
        if opening.startswith("```"):
            start = index
            index += 1
            while index < len(lines) and lines[index].strip() != "```":
                index += 1
            if index == len(lines):
                raise DocFormatError(f"line {start + 1}: a code block is never closed")
            found.append((start + 1, opening[3:].strip(), "\n".join(lines[start + 1 : index])))
        index += 1
    return found


def _block(line: int, info: str) -> tuple[str, str | None] | None:
    """(language, dialect) of a runnable block, None for any other (bash, text)."""
    words = info.split()
    if not words or words[0] not in LANGUAGES:
        return None
    if len(words) > 2 or (len(words) == 2 and (words[0] != "sql" or words[1] not in DIALECTS)):
        raise DocFormatError(f"line {line}: unknown block label {info!r}")
    return words[0], words[1] if len(words) == 2 else None


def questions(path: Path = ANALYTICS_DOC) -> list[Question]:
    """Every question of the doc's example section with its blocks, in doc order. A runnable
    block (`sql`, `sql sqlite`, `sql postgresql`, `python`) anywhere else is an error, so no
    query in the doc goes unchecked."""
    lines = path.read_text(encoding="utf-8").splitlines()
    try:
        start = next(i for i, text in enumerate(lines) if text.strip() == SECTION)
    except StopIteration:
        raise DocFormatError(f"{path.name} has no {SECTION!r} section") from None
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    headings = {
        i + 1: text[4:].strip()
        for i, text in enumerate(lines)
        if start < i < end and text.startswith("### ")
    }
    titles: dict[str, list[Block]] = {}
    for line, info, body in _fences(lines):
        kind = _block(line, info)
        if kind is None:
            continue
        if not start < line - 1 < end:
            raise DocFormatError(f"line {line}: a {info} block outside {SECTION!r}")
        above = [n for n in headings if n < line]
        if not above:
            raise DocFormatError(f"line {line}: a {info} block before the first question")
        title = headings[max(above)]
        titles.setdefault(title, []).append(Block(kind[0], kind[1], body.strip(), line))
    for title, blocks in titles.items():
        sql = [b for b in blocks if b.language == "sql"]
        portable = [b for b in sql if b.dialect is None]
        for dialect in DIALECTS:
            own = [b for b in sql if b.dialect == dialect]
            if sql and len(own) + len(portable) != 1:
                raise DocFormatError(
                    f"{title!r}: needs exactly one SQL block for {dialect} "
                    f"(one portable block, or one block per database)"
                )
    return [Question(t, tuple(titles[t])) for t in headings.values() if t in titles]
