"""Lenient matching for ``edit_file``: the near misses small models make when copying old_string.

When ``old_string`` is not in the file exactly, these tolerances are tried in order:

1. **Copied line numbers.** Every line of ``old_string`` starts with a line number as ``read_file``
   shows it (``     2\\t``) or as models rewrite it (``2: ``, ``2 | ``), numbered consecutively:
   the numbers are removed (from ``new_string`` too, when it carries them).
2. **Trailing whitespace**, ignored line by line.
3. **A uniform indentation difference**: every line is indented by the same amount more (or less)
   than in the file; ``new_string`` is re-indented by that amount.

A tolerance applies only when exactly one region of the file matches it: several matches are an
ambiguity error, as for an exact match, and no match leaves the caller's usual not-found error.
Tolerances 2 and 3 compare whole lines, so ``old_string`` must cover whole lines for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ToolError

__all__ = ["LenientMatch", "find_lenient_match", "strip_line_numbers"]


@dataclass
class LenientMatch:
    """A unique region of the file that ``old_string`` matches once something is tolerated."""

    start: int
    """Offset in the file's text where the region starts..."""
    end: int
    """...and where it ends (exclusive)."""
    new: str
    """What replaces the region: ``new_string`` adjusted the same way (numbers, indentation)."""
    tolerated: str
    """What was tolerated, for the tool's result: "removing copied line numbers", ..."""

    def apply(self, text: str) -> str:
        return text[: self.start] + self.new + text[self.end :]


#: Line-number prefixes as ``read_file`` writes them and as models retype them. Each also matches a
#: numbered empty line whose separator the model trimmed (``     5``).
_NUMBER_PREFIXES = (
    re.compile(r" *(\d+)(?:\t|$)"),  # read_file: "     2\t"
    re.compile(r" *(\d+):(?: |$)"),  # "2: "
    re.compile(r" *(\d+) ?\|(?: |$)"),  # "2 | " or "2| "
)
#: The ``read_file`` form: a number, then a tab, is never how a line of code starts, so it is
#: removed from any line of new_string that has it (the other forms could be real content).
_READ_FILE_PREFIX = _NUMBER_PREFIXES[0]


def _strip_numbered(lines: list[str], prefix: re.Pattern) -> list[str] | None:
    """``lines`` without their ``prefix``, when every non-blank line has one and the numbers count
    up by one (a blank line without a number still takes one); None otherwise."""
    stripped, expected, numbered = [], None, 0
    for line in lines:
        match = prefix.match(line)
        if match:
            number = int(match.group(1))
            if expected is not None and number != expected:
                return None
            expected = number + 1
            numbered += 1
            stripped.append(line[match.end() :])
        elif not line.strip():
            expected = expected + 1 if expected is not None else None
            stripped.append("")
        else:
            return None
    return stripped if numbered else None


def strip_glued_numbers(content: str) -> str | None:
    """``content`` without a line number glued to the start of every line (``1{``, ``2  "app"``:
    a model copying numbered lines without their separator), or None. Only when the numbers are
    exactly 1, 2, 3, ... on every line, blank lines included; the caller keeps the result only
    when it compiles or parses and the content as sent does not, since a numbered list is just as
    regular."""
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) < 3:
        return None
    stripped = []
    for number, line in enumerate(lines, start=1):
        label = str(number)
        if not line.startswith(label):
            return None
        stripped.append(line[len(label):])
    return "\n".join(stripped) + ("\n" if content.endswith("\n") else "")


def strip_numbered_content(content: str) -> str | None:
    """A whole file's ``content`` without ``read_file``'s ``number<TAB>`` prefixes, when every
    non-blank line carries one (a model rewriting a file it saw numbered), and without the
    ``<file path="...">`` lines around it when the model copied an attached file whole; None
    otherwise. Only the unmistakable tab form counts, and numbers need not count up (the model
    inserted lines)."""
    lines = content.split("\n")
    # The form files are attached to a request in (agent/mentions.py), copied whole.
    if lines and re.fullmatch(r'\s*<file path="[^"]*">\s*', lines[0]):
        lines = lines[1:]
        while lines and not lines[-1].strip():
            lines.pop()
        if lines and lines[-1].strip() == "</file>":
            lines = lines[:-1] + [""]
    matches = [(line, re.match(r" *(\d+)\t", line)) for line in lines]
    # The first line may have lost its "     1\t" (the model began the string with the code) when
    # the second line is numbered 2.
    first_bare = len(matches) > 1 and not matches[0][1] and bool(matches[1][1]) and matches[1][1].group(1) == "2"
    if not any(m for _, m in matches) or any(line.strip() and not m for line, m in matches[first_bare:]):
        return None
    return "\n".join(line[m.end():] if m else (line if i == 0 and first_bare else "")
                     for i, (line, m) in enumerate(matches))


def strip_line_numbers(old: str, new: str) -> tuple[str, str] | None:
    """``(old, new)`` without the line-number prefixes copied from a numbered read, or None when
    ``old`` does not carry them on every line. ``new`` loses them when all its non-blank lines
    carry the same form (any numbers: inserted lines shift them); otherwise only ``read_file``'s
    unmistakable ``number<TAB>`` prefix is removed from the lines that have it."""
    old_lines = old.split("\n")
    for prefix in _NUMBER_PREFIXES:
        stripped_old = _strip_numbered(old_lines, prefix)
        if stripped_old is None:
            continue
        new_lines = new.split("\n")
        if all(prefix.match(line) or not line.strip() for line in new_lines) and any(
            prefix.match(line) for line in new_lines
        ):
            new_lines = [line[prefix.match(line).end() :] if prefix.match(line) else "" for line in new_lines]
        elif prefix is _READ_FILE_PREFIX:
            new_lines = [
                line[m.end() :] if (m := _READ_FILE_PREFIX.match(line)) and "\t" in line[: m.end()] else line
                for line in new_lines
            ]
        return "\n".join(stripped_old), "\n".join(new_lines)
    return None


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _ambiguous(display: str, tolerated: str, lines: list[int]) -> ToolError:
    where = ", ".join(str(n) for n in lines[:20])
    return ToolError(
        f"old_string is not in {display} exactly, and after {tolerated} it matches {len(lines)} "
        f"places (lines {where}). Include more surrounding lines to make it unique, copied exactly "
        "from read_file output without the line numbers"
    )


def _with_crlf(text: str, new: str) -> str:
    """``new`` with the file's CRLF line endings (models send ``\\n``)."""
    if "\r\n" in text and "\r\n" not in new:
        return new.replace("\n", "\r\n")
    return new


def _exact(text: str, old: str, new: str, display: str, tolerated: str) -> LenientMatch | None:
    """The one exact occurrence of ``old`` (as the file's line endings write it)."""
    if "\r\n" in text and "\r\n" not in old:
        old = old.replace("\n", "\r\n")
    count = text.count(old)
    if count > 1:
        starts, at = [], text.find(old)
        while at >= 0:
            starts.append(_line_of(text, at))
            at = text.find(old, at + len(old))
        raise _ambiguous(display, tolerated, starts)
    if count == 0:
        return None
    start = text.index(old)
    return LenientMatch(start, start + len(old), _with_crlf(text, new), tolerated)


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _indent_shift(file_lines: list[str], old_lines: list[str]) -> tuple[str, str] | None:
    """How ``old_lines`` are indented relative to ``file_lines`` when they differ only by one
    uniform indentation: ``("deeper", extra)`` (the file has ``extra`` more) or ``("shallower",
    extra)``. None when the lines differ otherwise, or not at all."""
    shift = None
    for in_file, in_old in zip(file_lines, old_lines):
        in_file, in_old = in_file.rstrip(), in_old.rstrip()
        if not in_file or not in_old:
            if in_file or in_old:
                return None
            continue
        file_indent, old_indent = _indent(in_file), _indent(in_old)
        if in_file[len(file_indent) :] != in_old[len(old_indent) :]:
            return None
        if file_indent.startswith(old_indent) and file_indent != old_indent:
            this = ("deeper", file_indent[len(old_indent) :])
        elif old_indent.startswith(file_indent) and file_indent != old_indent:
            this = ("shallower", old_indent[len(file_indent) :])
        else:
            return None  # the same indentation on one line, or mixed tabs and spaces
        if shift is None:
            shift = this
        elif shift != this:
            return None
    return shift


def _reindent(new: str, shift: tuple[str, str]) -> str | None:
    """``new`` moved by ``shift`` (see :func:`_indent_shift`); None if a line cannot move that far."""
    direction, extra = shift
    lines = new.split("\n")
    if direction == "deeper":
        return "\n".join(extra + line if line.strip() else line for line in lines)
    if any(line.strip() and not line.startswith(extra) for line in lines):
        return None
    return "\n".join(line[len(extra) :] if line.strip() else line for line in lines)


def _by_lines(text: str, old: str, new: str, display: str, tolerated: str, reindent: bool) -> LenientMatch | None:
    """The one run of whole lines equal to ``old``'s apart from trailing whitespace (and, with
    ``reindent``, a uniform indentation difference)."""
    lead, trail = old.startswith("\n"), old.endswith("\n")
    core = old.split("\n")[int(lead) : len(old.split("\n")) - int(trail)]
    if not any(line.strip() for line in core):
        return None
    file_lines = text.split("\n")
    starts = [0]
    for line in file_lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    n = len(core)
    want = [line.rstrip() for line in core]
    first = next(i for i, line in enumerate(want) if line)
    found: list[tuple[int, int, int, str]] = []
    for at in range(len(file_lines) - n + 1):
        window = file_lines[at : at + n]
        if reindent:
            if window[first].strip() != want[first].strip():
                continue
            shift = _indent_shift(window, core)
            if shift is None:
                continue
            replacement = _reindent(new, shift)
            if replacement is None:
                continue
        else:
            if window[first].rstrip() != want[first] or [line.rstrip() for line in window] != want:
                continue
            replacement = new
        start = starts[at]
        last = at + n - 1
        end = starts[last] + len(file_lines[last])
        if file_lines[last].endswith("\r"):
            end -= 1
        if lead:
            if at == 0:
                continue
            start -= 2 if file_lines[at - 1].endswith("\r") else 1
        if trail:
            if last + 1 >= len(file_lines):
                continue
            end = starts[last + 1]
        found.append((at, start, end, replacement))
    if len(found) > 1:
        raise _ambiguous(display, tolerated, [at + 1 for at, *_ in found])
    if not found:
        return None
    _, start, end, replacement = found[0]
    return LenientMatch(start, end, _with_crlf(text, replacement), tolerated)


def find_lenient_match(text: str, old: str, new: str, display: str) -> LenientMatch | None:
    """The one region of ``text`` that ``old`` matches once the tolerances of this module are
    applied in order, with ``new`` adjusted to match; None when none matches. Raises ToolError
    when a tolerance makes ``old`` match several regions, or when the adjusted edit changes
    nothing."""
    done: list[str] = []

    def tolerated(what: str) -> str:
        return " and ".join(done + [what])

    numbered = strip_line_numbers(old, new)
    match = None
    if numbered is not None and numbered[0].strip():
        old, new = numbered
        match = _exact(text, old, new, display, tolerated("removing copied line numbers"))
        done.append("removing copied line numbers")
    if match is None:
        match = _by_lines(text, old, new, display, tolerated("ignoring trailing whitespace"), reindent=False)
    if match is None:
        match = _by_lines(text, old, new, display, tolerated("adjusting the indentation"), reindent=True)
    if match is not None and text[match.start : match.end] == match.new:
        raise ToolError(
            f"old_string is not in {display} exactly; after {match.tolerated} it matches line "
            f"{_line_of(text, match.start)}, but new_string is the same text, so there is nothing "
            "to change. If the file is already right, verify it or give your final answer"
        )
    return match
