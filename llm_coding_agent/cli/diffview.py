"""Unified diffs for the terminal (and, through parse_diff, edited_pairs and changed_spans, for
`llm code web`): old/new line numbers in a gutter, long lines cropped with a
``…`` at the terminal width (not wrapped into the next line), and the changed characters inside
a changed line highlighted, so a one-character edit is easy to spot.

Used for the approval preview and for the diff of an edit once it is made.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from rich.text import Text

__all__ = ["diff_texts", "changed_spans", "parse_diff", "edited_pairs"]

_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")
#: Below this similarity a -/+ pair is a rewrite, not an edit: nothing is highlighted inside it.
SIMILAR = 0.4
_STYLES = {"-": "red", "+": "green", " ": "dim"}
_CHANGED = "bold reverse"


def changed_spans(old: str, new: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]] | None:
    """The (start, end) ranges that differ in ``old`` and in ``new``; None when the lines are
    too different for a character diff to help."""
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    if matcher.ratio() < SIMILAR:
        return None
    removed, added = [], []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if i2 > i1:
            removed.append((i1, i2))
        if j2 > j1:
            added.append((j1, j2))
    return removed, added


def parse_diff(diff: str) -> list[tuple[str, str, int | None, int | None]]:
    """(kind, text, old number, new number) per line; kind is -, +, space, @ or h (a header)."""
    rows = []
    old = new = 0
    in_hunk = False
    for line in diff.splitlines():
        hunk = _HUNK.match(line)
        if hunk:
            old, new = int(hunk.group(1)), int(hunk.group(2))
            in_hunk = True
            rows.append(("@", line, None, None))
        elif not in_hunk:  # the file names before the first hunk, or a note such as "(no change)"
            rows.append(("h", line, None, None))
        elif line.startswith("-"):
            rows.append(("-", line[1:], old, None))
            old += 1
        elif line.startswith("+"):
            rows.append(("+", line[1:], None, new))
            new += 1
        elif line.startswith(" "):
            rows.append((" ", line[1:], old, new))
            old += 1
            new += 1
        else:  # "\ No newline at end of file", or text that is no diff line
            rows.append(("h", line, None, None))
    return rows


def edited_pairs(rows) -> dict[int, int]:
    """Row index of each removed line → the added line it became (a run of n removed lines
    followed by a run of n added lines is read as n edited lines)."""
    pairs: dict[int, int] = {}
    i = 0
    while i < len(rows):
        if rows[i][0] != "-":
            i += 1
            continue
        start = i
        while i < len(rows) and rows[i][0] == "-":
            i += 1
        added_start = i
        while i < len(rows) and rows[i][0] == "+":
            i += 1
        for offset in range(min(added_start - start, i - added_start)):
            pairs[start + offset] = added_start + offset
    return pairs


def diff_texts(diff: str, width: int | None = None) -> list[Text]:
    """One :class:`~rich.text.Text` per diff line, each cropped with ``…`` at the console width.

    ``width``: the terminal width, so that a change beyond it is scrolled into view (the line
    then begins with ``…``); None leaves every line from its start.
    """
    rows = parse_diff(diff)
    numbers = [n for _, _, o, w in rows for n in (o, w) if n is not None]
    digits = len(str(max(numbers))) if numbers else 1
    highlights: dict[int, list[tuple[int, int]]] = {}
    for removed, added in edited_pairs(rows).items():
        spans = changed_spans(rows[removed][1], rows[added][1])
        if spans:
            highlights[removed], highlights[added] = spans
    texts = []
    for index, (kind, content, old, new) in enumerate(rows):
        if kind in "h@":
            text = Text(content, style="bold" if kind == "h" and content.startswith(("---", "+++")) else
                        "cyan" if kind == "@" else "dim")
        else:
            gutter = f"{'' if old is None else old:>{digits}} {'' if new is None else new:>{digits}} "
            text = Text()
            text.append(gutter, style="dim")
            body = Text(kind + content, style=_STYLES[kind])
            for start, end in highlights.get(index, ()):
                body.stylize(_CHANGED, start + 1, end + 1)
            if width is not None and index in highlights:
                body = _scrolled_to_change(body, highlights[index], width - len(gutter))
            text.append_text(body)
        text.no_wrap = True
        text.overflow = "ellipsis"
        texts.append(text)
    return texts


def _scrolled_to_change(body: Text, spans: list[tuple[int, int]], room: int) -> Text:
    """``body`` starting shortly before its first change when that change lies beyond ``room``."""
    first = spans[0][0] + 1 if spans else 0
    if room < 8 or first < room - 1:
        return body
    cut = max(2, first - room // 3)
    scrolled = Text(body.plain[0] + "…", style=str(body.style))
    scrolled.append_text(body[cut:])
    return scrolled
