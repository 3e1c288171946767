"""The ``---`` frontmatter of Markdown files users bring (skills' ``SKILL.md``, command files).

Other agents write these files by hand and parse them leniently, so we do too: the block is
read as YAML (PyYAML comes with llm), and when that fails, as ``key: value`` lines, which is
what an unquoted ``description: Use when: the tests fail`` means to its author.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

__all__ = ["FrontmatterError", "split_frontmatter", "read_frontmatter_file"]

_KEY_LINE = re.compile(r"^([A-Za-z][\w-]*)\s*:\s*(.*)$")


class FrontmatterError(ValueError):
    """A frontmatter block that cannot be read (not closed, not a mapping)."""


def split_frontmatter(text: str) -> tuple[dict[str, object], str]:
    """``(fields, body)`` of a Markdown file: the frontmatter's fields (``{}`` when the file has
    none) and the text after it. Raises :class:`FrontmatterError` for a block opened by ``---``
    and never closed."""
    text = text.lstrip("\ufeff")
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return {}, text
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            break
    else:
        raise FrontmatterError("the frontmatter starts with --- but has no closing --- line")
    block = "".join(lines[1:end])
    body = "".join(lines[end + 1:]).lstrip("\n")
    return _fields(block), body


def _fields(block: str) -> dict[str, object]:
    try:
        data = yaml.safe_load(block) if block.strip() else {}
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict):
        return {str(key): value for key, value in data.items()}
    if data is not None and block.strip():
        raise FrontmatterError("the frontmatter must be `key: value` lines")
    return _lenient_fields(block)


def _lenient_fields(block: str) -> dict[str, object]:
    """``key: value`` lines; an indented line continues the value above it."""
    fields: dict[str, object] = {}
    key = None
    for line in block.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _KEY_LINE.match(line)
        if match and not line[:1].isspace():
            key = match.group(1)
            fields[key] = _unquote(match.group(2).strip())
        elif key is not None:
            fields[key] = f"{fields[key]} {line.strip()}".strip()
        else:
            raise FrontmatterError(f"cannot read the frontmatter line {line.strip()!r} (expected `key: value`)")
    return fields


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def read_frontmatter_file(path: Path, max_bytes: int) -> tuple[dict[str, object], str, bytes]:
    """The frontmatter, body and bytes (what trust hashes) of a Markdown file of at most
    ``max_bytes``; raises ValueError saying why it cannot be used (too large, bad frontmatter)."""
    raw = path.read_bytes()
    if len(raw) > max_bytes:
        raise ValueError(f"it is larger than {max_bytes:,} bytes")
    try:
        fields, body = split_frontmatter(raw.decode("utf-8", errors="replace"))
    except FrontmatterError as ex:
        raise ValueError(str(ex)) from None
    return fields, body, raw
