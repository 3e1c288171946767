"""What ``llm code`` shows while the agent works: the live line of a running tool (with the last
lines of a command's output), a command's output collapsed once it ended, the model's answer
streamed as Markdown, and the status line after a turn.

Rendering only: :class:`~llm_coding_agent.cli.ui.TerminalUI` decides when each is shown. rich's
live displays are imported on first use (they pull in threads; markdown pulls in pygments).
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections import deque
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.segment import Segment
from rich.text import Text

from ..tools.shell import redact, secret_values

__all__ = [
    "MarkdownStream",
    "ToolProgress",
    "clean_line",
    "collapse_output",
    "collapsed_output_texts",
    "command_output_lines",
    "finished_blocks",
    "tool_heading",
    "turn_status",
]

#: Lines of a running command's output shown under its live line.
LIVE_OUTPUT_LINES = 5
#: (first, last) lines of a finished command's output shown, for a success and for a failure.
COLLAPSED = (3, 3)
COLLAPSED_FAILURE = (2, 20)

_ESCAPE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_line(line: str) -> str:
    """One line of command output as a terminal would leave it: what follows the last carriage
    return (progress bars), without escape sequences or control characters (which would move
    the cursor or recolour the UI)."""
    parts = [part for part in line.split("\r") if part.strip()]
    line = parts[-1] if parts else ""
    return _CONTROL.sub("", _ESCAPE.sub("", line)).replace("\t", "    ")


def _one_line(text: Text) -> Text:
    """``text`` cut with a "…" at the terminal width instead of wrapped. (Inside a Group or a
    Live display; ``Console.print`` joins the Texts it is given and needs the options itself.)"""
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


def tool_heading(name: str, key: str, marker: str = "⏺ ", marker_style: str = "yellow") -> Text:
    """``⏺ execute_command pytest -q``: a running call (and, with ``●``, a finished one)."""
    line = Text(marker, style=marker_style)
    line.append(name, style="bold")
    if key:
        line.append(f" {key}", style="cyan")
    return line


# -- a running tool -------------------------------------------------------------------------------


class ToolProgress:
    """A tool call while it runs: its elapsed time and, for commands, the last lines of output.

    With a ``console`` it draws itself as a live line (``⏺ execute_command pytest -q · 4.2s``)
    updated a few times a second, erased by :meth:`stop`; without one it only keeps the time.
    """

    def __init__(self, name: str, key: str, console: Console | None = None, lines: int = LIVE_OUTPUT_LINES):
        self.name = name
        self.key = key
        self._console = console
        self.started = time.monotonic()
        self._lines: deque[str] = deque(maxlen=lines)
        self._partial = ""
        self._lock = threading.Lock()  # feed() runs in the tool's thread, rendering in rich's
        self._secrets: list[str] = []
        self._live = None
        if console is not None:
            from rich.live import Live

            # Output is shown to the user only, but as carefully as the model's copy (screens get shared).
            self._secrets = secret_values()
            self._live = Live(
                console=console, get_renderable=self._render, refresh_per_second=8, transient=True
            )
            self._live.start()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def describe(self) -> str:
        return f"{self.name} {self.key}".strip()

    def feed(self, text: str) -> None:
        """More output of the running command."""
        with self._lock:
            *complete, partial = (self._partial + text).split("\n")
            for line in complete:
                line = clean_line(line)
                if line.strip():
                    self._lines.append(line)
            # An endless line (a progress bar without newlines) must not grow without bound.
            self._partial = partial[-4000:]

    def _render(self) -> Group:
        elapsed = f" · {self.elapsed:.1f}s"
        key = self.key
        room = (self._console.width if self._console else 200) - len(self.name) - len(elapsed) - 3
        if len(key) > room:  # shortened so that the time stays in view
            key = key[: max(room - 1, 0)] + "…"
        heading = tool_heading(self.name, key)
        heading.append(elapsed, style="dim")
        with self._lock:
            lines = list(self._lines)
            partial = clean_line(self._partial)
        if partial.strip():  # a line still being written: a prompt, a progress bar
            lines = (lines + [partial])[-(self._lines.maxlen or 1) :]
        shown = [_one_line(Text("    " + redact(line, self._secrets), style="dim")) for line in lines]
        return Group(_one_line(heading), *shown)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


# -- a finished command's output ------------------------------------------------------------------


def command_output_lines(output: str) -> list[str]:
    """The command's own output in an ``execute_command`` result: without the ``Exit code:`` line
    and notes after it, or the leading ``Error:`` line of a timeout (the summary line shows those)."""
    lines = output.rstrip("\n").split("\n")  # not splitlines(): a "\r" (progress) is no new line
    if lines and lines[0].startswith("Error:"):
        lines = lines[1:]
    else:
        exits = [i for i, line in enumerate(lines) if line.startswith("Exit code:")]
        if exits:
            lines = lines[: exits[-1]]
    if lines == ["(no output)"]:
        return []
    return [clean_line(line) for line in lines]


def collapse_output(lines: list[str], failed: bool) -> list[str | int]:
    """The lines to show of a finished command: all when few, else the first and last few with
    the number left out between them (a failure shows more of its end, where errors are)."""
    head, tail = COLLAPSED_FAILURE if failed else COLLAPSED
    if len(lines) <= head + tail + 1:
        return list(lines)
    return [*lines[:head], len(lines) - head - tail, *lines[-tail:]]


def collapsed_output_texts(output: str, failed: bool) -> list[Text]:
    texts = []
    for item in collapse_output(command_output_lines(output), failed):
        if isinstance(item, int):
            texts.append(Text(f"    … +{item} lines (!output to see all)", style="dim italic"))
        else:
            texts.append(_one_line(Text("    " + item, style="dim")))
    return texts


# -- streaming Markdown ---------------------------------------------------------------------------

_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r" {0,3}#{1,6}(\s|$)")
_ITEM = re.compile(r" ?([-*+]|(\d{1,9})[.)])\s")


@dataclass
class Block:
    """A finished piece of an answer: rendered and printed once, never redrawn."""

    text: str
    item: bool  # a top-level list item
    blank_before: bool  # separated from the previous block by a blank line


def _starts_block(line: str) -> bool:
    return bool(_HEADING.match(line) or _FENCE.match(line) or _ITEM.match(line))


def _block_end(lines: list[str], start: int, partial: str | None) -> int | None:
    """Where the block starting at ``lines[start]`` ends (exclusive), or None while unknown.
    ``partial`` is the line still arriving (None once the answer is complete)."""
    final = partial is None
    fence = _FENCE.match(lines[start])
    if fence:
        marker = fence.group(1)
        for k in range(start + 1, len(lines)):
            closing = lines[k].strip()
            if closing.startswith(marker) and not closing.strip(marker[0]):
                return k + 1
        return len(lines) if final else None
    if _HEADING.match(lines[start]):
        return start + 1
    k = start + 1
    while k < len(lines):
        line = lines[k]
        if line.strip():
            if _starts_block(line):
                return k
            k += 1
            continue
        # A blank line ends the block unless an indented line follows (an item's next paragraph).
        after = next((n for n in range(k, len(lines)) if lines[n].strip()), None)
        following = lines[after] if after is not None else partial
        if final and after is None:
            return k
        if not following:
            return None
        if following[0] not in " \t":
            return k
        if after is None:
            return None
        k = after
    if final or (partial and _starts_block(partial)):
        return len(lines)
    return None


def finished_blocks(text: str, final: bool = False) -> tuple[list[Block], int]:
    """The blocks of ``text`` that are complete (a heading, a list item once the next one begins,
    a paragraph once a blank line and the next line began, a closed code fence) and how many
    characters of ``text`` they took. With ``final`` the whole text is finished."""
    lines = text.split("\n")
    partial: str | None = lines.pop()
    if final:
        lines.append(partial)
        partial = None
    blocks: list[Block] = []
    index = 0
    while True:
        start = index
        while start < len(lines) and not lines[start].strip():
            start += 1
        if start >= len(lines):
            break
        end = _block_end(lines, start, partial)
        if end is None:
            break
        body = "\n".join(lines[start:end]).rstrip()
        blocks.append(Block(body, bool(_ITEM.match(lines[start])), start > index))
        index = end
    if final:
        return blocks, len(text)
    return blocks, sum(len(line) + 1 for line in lines[:index])


def _blank(line: list[Segment]) -> bool:
    return all(not seg.text.strip() and not (seg.style and seg.style.bgcolor) for seg in line)


@functools.cache
def _markdown_class():
    """rich's Markdown, with numbered lists as wide as their last number (rich makes room for one
    more: a list printed item by item would shift at 9, 99...)."""
    from rich.markdown import ListElement, Markdown

    class NumberedList(ListElement):
        def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
            if self.list_type == "bullet_list_open":
                yield from super().__rich_console__(console, options)
                return
            first = 1 if self.list_start is None else self.list_start
            for index, item in enumerate(self.items):
                yield from item.render_number(console, options, first + index, first + len(self.items) - 1)

    class StreamedMarkdown(Markdown):
        elements = {**Markdown.elements, "ordered_list_open": NumberedList}

    return StreamedMarkdown


def _markdown_lines(console: Console, text: str, options: ConsoleOptions | None = None) -> list[list[Segment]]:
    """``text`` rendered as Markdown, without the blank lines rich puts around some blocks (a
    list begins with one): the stream places the blank lines between blocks itself."""
    markdown = _markdown_class()(text)
    lines = console.render_lines(markdown, (options or console.options).update(height=None), pad=False)
    while lines and _blank(lines[0]):
        lines.pop(0)
    while lines and _blank(lines[-1]):
        lines.pop()
    return lines


class _Lines:
    def __init__(self, lines: list[list[Segment]]):
        self.lines = lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines:
            yield from line
            yield Segment.line()


class MarkdownStream:
    """The model's answer as it streams: finished blocks are printed once, as Markdown, to the
    console; only the unfinished block is live (redrawn as it grows, cropped to the terminal).

    A live area taller than the terminal cannot be redrawn in place, and rich then prints it
    again below itself on every refresh: a long answer would fill the scrollback with copies.
    """

    def __init__(self, console: Console):
        self.console = console
        self.text = ""
        self._done = 0  # where the unfinished part of ``text`` begins
        self._printed_any = False
        self._last_number: int | None = None  # the previous block's number, in an ordered list
        self._last_item = False
        self._lock = threading.Lock()  # rich redraws the live part from its own thread
        self._live = None

    def feed(self, chunk: str) -> None:
        with self._lock:
            self.text += chunk
        self._print_finished(final=False)
        if self._live is None:
            from rich.live import Live

            self._live = Live(self, console=self.console, refresh_per_second=10, transient=True)
            self._live.start()

    def finish(self) -> None:
        """The answer is complete: replace the live part with its final rendering."""
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._print_finished(final=True)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """The live part: the unfinished block, its last lines when it is taller than the
        terminal (so the live area never scrolls)."""
        with self._lock:
            tail = self.text[self._done :]
        # Spaced from what is printed above as the block will be once it is printed.
        next_item = bool(_ITEM.match(tail.lstrip("\n"))) and not tail.startswith("\n")
        blank = self._printed_any and not (next_item and self._last_item)
        room = max(1, console.size.height - 4 - blank)
        source = tail.lstrip("\n").split("\n")
        if len(source) > 3 * room:
            # Only the end is shown: render only the end (a long code block, its opening fence
            # kept), not the whole block several times a second.
            start = source[:1] if _FENCE.match(source[0]) else []
            tail = "\n".join(start + source[-2 * room :])
        lines = _markdown_lines(console, tail, options)
        if not lines:
            return
        if blank:
            yield Segment.line()
        for line in lines[-room:]:
            yield from line
            yield Segment.line()

    def _print_finished(self, final: bool) -> None:
        with self._lock:
            blocks, used = finished_blocks(self.text[self._done :], final)
            # Taken out of the live part first: printing redraws it, and it must not show a
            # block twice (the raw output, and so the scrollback, would hold both).
            self._done += used
        for block in blocks:
            text = self._numbered(block)
            if self._printed_any and not (block.item and self._last_item and not block.blank_before):
                self.console.print()
            self.console.print(_Lines(_markdown_lines(self.console, text)))
            self._printed_any = True
            self._last_item = block.item

    def _numbered(self, block: Block) -> str:
        """An ordered list item numbered on from the previous one, as one Markdown list would
        number it (models often write "1." for every item)."""
        match = _ITEM.match(block.text)
        number = match.group(2) if match and block.item else None
        if number is None:
            self._last_number = None
            return block.text
        following = self._last_number is not None and self._last_item and not block.blank_before
        self._last_number = self._last_number + 1 if following else int(number)
        return block.text[: match.start(2)] + str(self._last_number) + block.text[match.end(2) :]


# -- after a turn ---------------------------------------------------------------------------------


def _tokens(n: int | None) -> str:
    if n is None:
        return "?"
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}".rstrip("0").rstrip(".") + "k"
    return f"{n / 1_000_000:.1f}".rstrip("0").rstrip(".") + "M"


def turn_status(
    model_id: str,
    context: tuple[int, str],
    window: int,
    turn: tuple[int | None, int | None],
    session: tuple[int | None, int | None],
    seconds: float,
) -> str:
    """One line after a turn: model, context used of the window, tokens of the turn and the
    session (in/out), time. llm has no price data, so no cost."""
    used, how = context
    share = f" ({used * 100 // window}%)" if window else ""
    approx = "~" if how == "estimated" else ""
    # Most telling first: a narrow terminal cuts the end.
    return (
        f"{model_id} · {seconds:.1f}s · context {approx}{_tokens(used)}/{_tokens(window)}{share}"
        f" · turn {_tokens(turn[0])} in, {_tokens(turn[1])} out"
        f" · session {_tokens(session[0])} in, {_tokens(session[1])} out"
    )
