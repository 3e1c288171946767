"""File reading, atomic writing and exact-string editing: the engine behind the file tools.

Everything here works on real (already confined) paths; :mod:`llm_coding_agent.tools.toolbox` does the
confinement and turns :class:`~llm_coding_agent.errors.ToolError` into ``Error: ...`` strings.
"""

from __future__ import annotations

import codecs
import difflib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ToolError

__all__ = [
    "READ_OUTPUT_CAP",
    "check_regular",
    "open_regular",
    "read_bytes",
    "LONG_LINE",
    "DecodedFile",
    "read_page",
    "decode_file",
    "encode_text",
    "atomic_write",
    "plan_edit",
    "EditNotFound",
    "WHOLE_FILE_LINES",
    "unified_diff",
    "diff_stats",
]

#: Total characters ``read_file`` returns at most (about 50 KB).
READ_OUTPUT_CAP = 50_000
#: Characters of one line shown before it is cut.
LONG_LINE = 2_000
_CHUNK = 1 << 20
_BINARY_SNIFF = 8192


def _looks_binary(head: bytes) -> bool:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    return b"\x00" in head


def _sniff_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8"


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "an unknown kind of file"


def _not_regular(display: str, mode: int) -> ToolError:
    return ToolError(
        f"{display} is not a regular file: it is {_special_kind(mode)}, and the file tools read "
        "and write only regular files. Use execute_command if you really need to talk to it"
    )


def check_regular(real: Path, display: str) -> None:
    """Refuse anything but a regular file or directory, or a missing path, before it is opened.

    Opening a FIFO blocks until a writer appears (forever, for the model), and opening a device
    can have side effects; a stat never does.
    """
    try:
        mode = os.stat(real).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise _not_regular(display, mode)


def open_regular(real: Path | bytes, display: str):
    """``real`` opened for binary reading, provided it is a regular file.

    Checked before opening (:func:`check_regular`) and again on the open descriptor, which is
    opened non-blocking so that a FIFO swapped in between the two cannot hang the call.
    """
    check_regular(real, display)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(real, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(display, mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(real: Path, display: str) -> bytes:
    """The whole content of the regular file ``real`` (see :func:`open_regular`)."""
    with open_regular(real, display) as f:
        return f.read()


def _skip_lines(f, count: int) -> int:
    """Advance ``f`` past ``count`` newlines by scanning 1 MB chunks; returns lines skipped.

    Counting newlines in chunks keeps memory flat and is far faster than ``readline`` when the
    reader asks for page 1,000 of a multi-gigabyte log.
    """
    skipped = 0
    while skipped < count:
        start = f.tell()
        chunk = f.read(_CHUNK)
        if not chunk:
            break
        n = chunk.count(b"\n")
        if skipped + n < count:
            skipped += n
            continue
        # The wanted line starts inside this chunk: find its offset.
        pos = -1
        for _ in range(count - skipped):
            pos = chunk.index(b"\n", pos + 1)
        f.seek(start + pos + 1)
        skipped = count
    return skipped


def _read_bounded_line(f, limit: int) -> tuple[bytes, int] | None:
    """One line (without its newline) cut to ``limit`` bytes, plus how many bytes were cut.

    Never holds more than ``limit`` bytes of a line in memory, however long the line is.
    """
    line = f.readline(limit)
    if not line:
        return None
    if line.endswith(b"\n"):
        return line[:-1], 0
    dropped = 0
    while True:
        rest = f.readline(_CHUNK)
        if not rest:
            return line, dropped
        if rest.endswith(b"\n"):
            return line, dropped + len(rest) - 1
        dropped += len(rest)


def read_page(real: Path, display: str, offset: int = 0, limit: int = 2000) -> str:
    """Lines ``offset`` .. ``offset+limit`` of a text file, numbered like ``cat -n``.

    Streams the file: memory stays bounded whatever its size.
    """
    if offset < 0:
        raise ToolError("offset must be 0 or more (the 0-based index of the first line to read)")
    if limit < 1:
        raise ToolError("limit must be at least 1")
    if real.is_dir():
        raise ToolError(f"{display} is a directory; use list_files to see what it contains")
    if not real.exists():
        raise ToolError(f"{display} not found: it does not exist; use list_files or search_files to find the right path")
    with open_regular(real, display) as f:
        head = f.read(_BINARY_SNIFF)
        if _looks_binary(head):
            size = os.fstat(f.fileno()).st_size
            raise ToolError(
                f"{display} is a binary file ({size} bytes); it cannot be shown as text. "
                "Use execute_command with a tool such as `file` or `xxd | head` to inspect it"
            )
        encoding = _sniff_encoding(head)
        if encoding == "utf-16":
            return _read_page_decoded(real, display, offset, limit)
        f.seek(len(codecs.BOM_UTF8) if encoding == "utf-8-sig" else 0)
        skipped = _skip_lines(f, offset)
        out: list[str] = []
        used = 0
        index = offset
        next_offset = None
        byte_limit = LONG_LINE * 4  # UTF-8 needs at most 4 bytes a character
        while index < offset + limit:
            item = _read_bounded_line(f, byte_limit)
            if item is None:
                break
            raw, dropped = item
            text = raw.decode("utf-8", errors="replace").rstrip("\r")
            cut = dropped > 0 or len(text) > LONG_LINE
            if cut:
                text = text[:LONG_LINE] + " … [line truncated]"
            entry = f"{index + 1:>6}\t{text}\n"
            if used + len(entry) > READ_OUTPUT_CAP and out:
                next_offset = index
                break
            out.append(entry)
            used += len(entry)
            index += 1
        else:
            # The page is full; peek whether anything follows.
            if f.read(1):
                next_offset = index
        if not out:
            if offset == 0:
                return f"({display} is empty)"
            raise ToolError(
                f"offset {offset} is past the end of {display}, which has {skipped} lines; "
                "use a smaller offset"
            )
        if next_offset is None and index < offset + limit:
            return "".join(out).rstrip("\n")
        if next_offset is not None:
            out.append(
                f"[{display}: more lines follow; call read_file with offset={next_offset} to read on]"
            )
        return "".join(out).rstrip("\n")


def _read_page_decoded(real: Path, display: str, offset: int, limit: int) -> str:
    # UTF-16 files are rare and small in practice; decode them whole.
    lines = decode_file(real, display).text.splitlines()
    if offset and offset >= len(lines):
        raise ToolError(
            f"offset {offset} is past the end of {display}, which has {len(lines)} lines"
        )
    page = lines[offset : offset + limit]
    out = [
        f"{offset + i + 1:>6}\t{(line[:LONG_LINE] + ' … [line truncated]') if len(line) > LONG_LINE else line}"
        for i, line in enumerate(page)
    ]
    if offset + limit < len(lines):
        out.append(
            f"[{display}: more lines follow; call read_file with offset={offset + limit} to read on]"
        )
    return "\n".join(out) if out else f"({display} is empty)"


@dataclass
class DecodedFile:
    """A text file's content and how to write it back the way it was."""

    text: str
    encoding: str
    mode: int | None


def decode_file(real: Path, display: str | None = None) -> DecodedFile:
    """Read a whole text file, remembering its encoding and permission bits."""
    display = display or str(real)
    if real.is_dir():
        raise ToolError(f"{display} is a directory, not a file")
    try:
        with open_regular(real, display) as f:
            data = f.read()
            mode = stat.S_IMODE(os.fstat(f.fileno()).st_mode)
    except FileNotFoundError:
        raise ToolError(
            f"{display} not found: it does not exist; create it with write_file or check the path with list_files"
        ) from None
    if _looks_binary(data[:_BINARY_SNIFF]):
        raise ToolError(f"{display} is a binary file; it cannot be edited as text")
    encoding = _sniff_encoding(data[:4])
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        # Not UTF-8: latin-1 maps every byte, so untouched bytes survive the round trip exactly.
        encoding = "latin-1"
        text = data.decode(encoding)
    return DecodedFile(text=text, encoding=encoding, mode=mode)


def encode_text(text: str, encoding: str, display: str) -> bytes:
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as ex:
        raise ToolError(
            f"the new text has characters ({ex.object[ex.start:ex.end]!r}) that {display}'s "
            f"encoding ({encoding}) cannot store; use characters it can represent"
        ) from None


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(real: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``real`` through a temporary file in the same directory and a rename.

    A crash or a full disk leaves either the old file or the new one, never half of either.
    Keeps ``mode`` (the old file's permission bits) or uses the umask default for new files.
    """
    real.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode if mode is not None else _default_mode())
        os.replace(tmp, real)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _match_lines(text: str, needle: str) -> list[int]:
    lines, start = [], 0
    while True:
        i = text.find(needle, start)
        if i < 0:
            return lines
        lines.append(_line_of(text, i))
        start = i + max(len(needle), 1)


class EditNotFound(ToolError):
    """``old_string`` is not in the file (and the edit is not one made before): the error that
    lenient matching may still rescue (:mod:`.editmatch`)."""


def plan_edit(text: str, old: str, new: str, replace_all: bool, display: str) -> str:
    """The file content after replacing ``old`` with ``new``; raises a helpful ToolError otherwise.

    A CRLF file is matched with the model's ``\\n`` strings converted to ``\\r\\n`` (models rarely
    send ``\\r``), so the file keeps its line endings.
    """
    if not isinstance(old, str) or not isinstance(new, str):
        raise ToolError("old_string and new_string must both be strings")
    if old == "":
        raise ToolError(
            "old_string is empty; to create or replace a whole file use write_file, "
            "otherwise give the exact text to replace"
        )
    if old == new:
        # Weak models send this to "confirm" an edit they made: say where the text stands and what
        # to do next, so the next call is not the same one again.
        where = (f"; that text is in {display} (line {_line_of(text, text.index(old))}), so the "
                 "file already reads that way" if old in text else "")
        raise ToolError(
            f"old_string and new_string are identical; there is nothing to change{where}. Put the "
            "new text in new_string, or, if the file is already right, verify (run the tests) or "
            "give your final answer"
        )
    if old not in text and "\r\n" in text and "\r\n" not in old:
        crlf_old = old.replace("\n", "\r\n")
        if crlf_old in text:
            old, new = crlf_old, new.replace("\r\n", "\n").replace("\n", "\r\n")
    count = text.count(old)
    if count == 0 and _looks_applied(text, old, new):
        # Weak models re-send an edit that already succeeded; say so instead of "not found".
        line = _line_of(text, text.index(new))
        raise ToolError(
            f"old_string was not found in {display}, but new_string is already there (from line "
            f"{line}): this edit looks applied already. If so, go on with the next step (verify, "
            "or give your final answer); if you meant another place, copy its exact text."
        )
    if count == 0:
        raise EditNotFound(no_match_message(text, old, display))
    if count == 1 and not replace_all and old in new and new in text:
        # An insertion (new_string = old_string plus more) whose result is already there: the
        # model is re-applying an edit it made before, which would insert the text twice.
        line = _line_of(text, text.index(new))
        raise ToolError(
            f"new_string is already in {display} (from line {line}): this edit was applied "
            "already, and applying it again would insert the same text a second time. Read the "
            "file to see its current state; to add another copy, include more surrounding lines."
        )
    if count > 1 and not replace_all:
        where = ", ".join(str(n) for n in _match_lines(text, old)[:20])
        raise ToolError(
            f"old_string occurs {count} times in {display} (lines {where}); include more "
            "surrounding lines to make it unique, or pass replace_all=true to change every one"
        )
    return text.replace(old, new) if replace_all else text.replace(old, new, 1)


_FUZZY_MAX_CHARS = 2_000_000


def _looks_applied(text: str, old: str, new: str) -> bool:
    """``new`` is in the file and is a modest change of ``old``: the edit was made before. Short
    or unrelated strings (``20``, ``false``) occur anywhere, so they never count."""
    if len(new.strip()) < 12 or new not in text:
        return False
    return difflib.SequenceMatcher(None, old, new).ratio() >= 0.6


#: Below this similarity a failed old_string is a guess rather than a near miss...
_NEAR_MISS = 0.6
#: ...and files up to this many lines are then shown whole in the error.
WHOLE_FILE_LINES = 150


def no_match_message(text: str, old: str, display: str) -> str:
    """Explain a failed match: show the closest region of the file and what differs."""
    lines = text.splitlines()
    old_lines = old.strip("\n").splitlines() or [old]
    head = f"old_string was not found in {display}."
    if not lines:
        return f"{head} The file is empty; use write_file to give it content."

    # Same lines apart from whitespace: the most common near-miss.
    stripped = [l.strip() for l in lines]
    want = [l.strip() for l in old_lines]
    n = len(want)
    for start in range(0, len(lines) - n + 1):
        if stripped[start : start + n] == want:
            region = _numbered(lines, start, start + n)
            return (
                f"{head} The same lines exist at lines {start + 1}-{start + n} but their "
                f"whitespace/indentation differs. Copy them exactly as shown (after the tab):\n{region}"
            )

    if len(text) > _FUZZY_MAX_CHARS:
        return (
            f"{head} Use read_file or search_files to find the exact current text, then retry."
        )
    start, ratio = _closest_window(lines, old_lines)
    end = min(len(lines), start + n)
    if ratio < _NEAR_MISS and len(lines) <= WHOLE_FILE_LINES:
        # Nothing close: the model is guessing the content (small models do, often without
        # having read the file). A region would only mislead; the whole small file does not.
        return (
            f"{head} Nothing in it resembles old_string (best match {ratio:.0%} similar), so you "
            f"are probably guessing its content. Here is the whole file ({len(lines)} lines):\n"
            f"{_numbered(lines, 0, len(lines))}\n"
            "Copy old_string exactly from these lines (without the line-number prefix and tab)."
        )
    region = _numbered(lines, max(0, start - 2), min(len(lines), end + 2))
    diff = "\n".join(
        difflib.unified_diff(
            old_lines, lines[start:end], "your old_string", f"{display} lines {start + 1}-{end}", n=0, lineterm=""
        )
    )
    return (
        f"{head} The closest region is lines {start + 1}-{end} ({ratio:.0%} similar):\n{region}\n"
        f"What differs (- your old_string, + the file):\n{diff}\n"
        "Read the file again if unsure, then retry with the exact text."
    )


def _closest_window(lines: list[str], old_lines: list[str]) -> tuple[int, float]:
    """Start of the window of ``len(old_lines)`` lines most similar to ``old_lines``.

    Exact ``SequenceMatcher.ratio()`` is quadratic, so only a few candidate windows get it: those
    sharing the most identical (stripped) lines, and those whose first line resembles the first
    line of ``old_lines``.
    """
    n = len(old_lines)
    last_start = max(0, len(lines) - n)
    want = {l.strip() for l in old_lines if l.strip()}
    hits = [1 if l.strip() in want else 0 for l in lines]
    prefix = [0]
    for h in hits:
        prefix.append(prefix[-1] + h)
    by_shared = sorted(
        range(last_start + 1), key=lambda s: prefix[min(len(lines), s + n)] - prefix[s], reverse=True
    )[:30]
    candidates = set(by_shared)
    first = next(((i, l.strip()) for i, l in enumerate(old_lines) if l.strip()), None)
    if first is not None:
        offset, first_line = first
        stripped = [l.strip() for l in lines]
        positions: dict[str, list[int]] = {}
        for i, l in enumerate(stripped):
            positions.setdefault(l, []).append(i)
        for close in difflib.get_close_matches(first_line, list(positions), n=10, cutoff=0.4):
            for i in positions[close][:5]:
                candidates.add(min(last_start, max(0, i - offset)))
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2("\n".join(old_lines))
    best, best_ratio = 0, -1.0
    for start in sorted(candidates):
        matcher.set_seq1("\n".join(lines[start : start + n]))
        r = matcher.ratio()
        if r > best_ratio:
            best, best_ratio = start, r
    return best, max(best_ratio, 0.0)


def _numbered(lines: list[str], start: int, end: int) -> str:
    return "\n".join(f"{i + 1:>6}\t{lines[i]}" for i in range(start, end))


def unified_diff(before: str, after: str, display: str, max_chars: int = 20_000) -> str:
    """A unified diff of ``before`` → ``after`` (capped), for tool results and approval previews."""
    diff = "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            f"a/{display}",
            f"b/{display}",
        )
    )
    diff = diff.replace("\r\n", "\n")
    if len(diff) > max_chars:
        diff = diff[:max_chars] + f"\n[... diff truncated, {len(diff) - max_chars} more characters]"
    return diff.rstrip("\n")


def diff_stats(diff: str) -> tuple[int, int]:
    """Lines added and removed in a unified diff."""
    added = removed = 0
    for line in diff.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return added, removed
