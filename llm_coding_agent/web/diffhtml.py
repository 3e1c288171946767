"""A unified diff as HTML: a unified table and a side-by-side table (the page shows one and
switches between them), with the changed characters inside an edited line marked.

The diff is read by :mod:`llm_coding_agent.cli.diffview` (the same line pairing and character
spans as the terminal's approval prompt), so the browser and the terminal highlight alike.
"""

from __future__ import annotations

from html import escape

from ..cli.diffview import changed_spans, edited_pairs, parse_diff

__all__ = ["diff_html", "extract_diff"]

_KIND_CLASS = {"-": "del", "+": "add", " ": "ctx"}


def extract_diff(text: str) -> str | None:
    """The unified diff inside a tool result or approval preview (from its ``--- a/`` line), if any."""
    start = text.find("--- a/")
    if start < 0 or "\n+++ b/" not in text[start:]:
        return None
    return text[start:]


def _marked(text: str, spans: list[tuple[int, int]] | None) -> str:
    """``text`` escaped, with the ``spans`` (start, end) wrapped in ``<mark>``."""
    if not spans:
        return escape(text)
    out, at = [], 0
    for start, end in spans:
        out.append(escape(text[at:start]))
        out.append(f"<mark>{escape(text[start:end])}</mark>")
        at = end
    out.append(escape(text[at:]))
    return "".join(out)


def _highlights(rows) -> dict[int, list[tuple[int, int]]]:
    found: dict[int, list[tuple[int, int]]] = {}
    for removed, added in edited_pairs(rows).items():
        spans = changed_spans(rows[removed][1], rows[added][1])
        if spans:
            found[removed], found[added] = spans
    return found


def _number(n: int | None) -> str:
    return "" if n is None else str(n)


def _unified(rows, marks) -> str:
    lines = []
    for index, (kind, content, old, new) in enumerate(rows):
        if kind in "h@":
            css = "hunk" if kind == "@" else "head"
            lines.append(f'<tr class="{css}"><td colspan="3">{escape(content)}</td></tr>')
            continue
        lines.append(
            f'<tr class="{_KIND_CLASS[kind]}"><td class="ln">{_number(old)}</td><td class="ln">{_number(new)}</td>'
            f'<td class="code"><span class="sign">{escape(kind)}</span>{_marked(content, marks.get(index))}</td></tr>'
        )
    return '<table class="diff unified">' + "".join(lines) + "</table>"


def _side_by_side(rows, marks) -> str:
    lines = []

    def cell(row_index: int | None, side: str) -> str:
        if row_index is None:
            return '<td class="ln"></td><td class="code empty"></td>'
        kind, content, old, new = rows[row_index]
        number = old if side == "old" else new
        css = _KIND_CLASS[kind]
        return f'<td class="ln">{_number(number)}</td><td class="code {css}">{_marked(content, marks.get(row_index))}</td>'

    i = 0
    while i < len(rows):
        kind = rows[i][0]
        if kind in "h@":
            css = "hunk" if kind == "@" else "head"
            lines.append(f'<tr class="{css}"><td colspan="4">{escape(rows[i][1])}</td></tr>')
            i += 1
        elif kind == " ":
            lines.append(f"<tr>{cell(i, 'old')}{cell(i, 'new')}</tr>")
            i += 1
        else:
            # A run of removed lines and the added lines after it, side by side.
            removed, added = [], []
            while i < len(rows) and rows[i][0] == "-":
                removed.append(i)
                i += 1
            while i < len(rows) and rows[i][0] == "+":
                added.append(i)
                i += 1
            for offset in range(max(len(removed), len(added))):
                left = removed[offset] if offset < len(removed) else None
                right = added[offset] if offset < len(added) else None
                lines.append(f"<tr>{cell(left, 'old')}{cell(right, 'new')}</tr>")
    return '<table class="diff split">' + "".join(lines) + "</table>"


def diff_html(diff: str) -> str:
    """Both views of ``diff`` in one ``<div class="diffview">`` (the unified one shown first)."""
    rows = parse_diff(diff)
    marks = _highlights(rows)
    return (
        '<div class="diffview" data-view="unified">'
        f"{_unified(rows, marks)}{_side_by_side(rows, marks)}</div>"
    )
