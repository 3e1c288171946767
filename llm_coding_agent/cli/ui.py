"""The terminal UI of ``llm code``: rendering with rich, input with prompt_toolkit.

Nothing here knows how the agent works; :mod:`llm_coding_agent.cli.session` wires the two together.
Plain text (no colour, no live updates) whenever output is not a terminal or ``NO_COLOR`` is set.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Callable

import llm
from rich.console import Console
from rich.text import Text

from ..tools import short_tool_name
from ..tools.files import diff_stats
from .messages import clip, first_line, plural
from .diffview import diff_texts
from .live import MarkdownStream, ToolProgress, clean_line, collapsed_output_texts, tool_heading

__all__ = ["TerminalUI", "ApprovalAnswer", "tool_label", "tool_summary"]

_KEY_ARGUMENT = {
    "read_file": "path",
    "write_file": "path",
    "edit_file": "path",
    "list_files": "pattern",
    "search_files": "pattern",
    "execute_command": "command",
}


def _count_lines(output: str, prefix_check: Callable[[str], bool]) -> int:
    return sum(1 for line in output.splitlines() if prefix_check(line))


def tool_label(call: llm.ToolCall) -> tuple[str, str]:
    """(tool, key argument) naming a call on one line: ``execute_command``, ``pytest -q``."""
    name = short_tool_name(call.name)
    args = call.arguments if isinstance(call.arguments, dict) else {}
    key = args.get(_KEY_ARGUMENT.get(name, ""), "")
    if not key and args:
        key = next(iter(args.values()))
    key = clip(str(key).replace("\n", " ⏎ "), 80)
    return name, key


def _tool_output(result: llm.ToolResult) -> str:
    """A tool's own output, without a note for the model after it (the user edited the change)."""
    return (result.output or "").split("\n\n[Note from the system:")[0]


def tool_summary(call: llm.ToolCall, result: llm.ToolResult) -> tuple[str, str, str]:
    """(tool, key argument, outcome) for the one-line display of a tool call."""
    name, key = tool_label(call)
    out = _tool_output(result)
    if out.startswith("Error:"):
        return name, key, "error: " + clip(out.splitlines()[0][7:].strip(), 100)
    if out.startswith("Cancelled:"):
        return name, key, "declined"
    if name == "read_file":
        outcome = plural(_count_lines(out, lambda l: l[:7].strip().isdigit()), "line")
    elif name == "search_files":
        n = _count_lines(out, lambda l: not l.startswith(("[", "No matches")))
        outcome = plural(n, "match")
    elif name == "list_files":
        n = _count_lines(out, lambda l: not l.startswith(("[", "No files")))
        outcome = plural(n, "file")
    elif name == "edit_file":
        added, removed = diff_stats(out)
        outcome = f"+{added} -{removed}"
    elif name == "write_file":
        # "Created notes/todo.md (10 bytes)", perhaps followed by lines such as a check's result.
        head = out.splitlines()[0] if out else ""
        size = re.search(r"\((\d[\d,]* bytes)\)", head)
        outcome = head.split(" ")[0].rstrip(":").lower() + (f" {size.group(1)}" if size else "")
    elif name == "execute_command":
        # The exit line is last, or followed only by a note (see shell.format_command_output).
        tail = out.rstrip().splitlines()[-2:]
        exit_line = next((line for line in reversed(tail) if line.startswith("Exit code:")), "")
        outcome = exit_line.replace("Exit code: ", "exit ") if exit_line else "done"
    else:
        outcome = plural(len(out), "char")
    if "[Note from the system: the user edited your change" in (result.output or ""):
        outcome = outcome.strip() + " (your edit)"
    return name, key, outcome.strip()


class ApprovalAnswer:
    """The user's answer to an approval prompt."""

    def __init__(self, kind: str, reason: str = "", content: str | None = None):
        self.kind = kind  # "yes", "always", "no", "edit"
        self.reason = reason
        self.content = content  # "edit": the file's content as the user edited it


class TerminalUI:
    """Everything ``llm code`` shows and reads."""

    def __init__(self, stdout=None, stdin=None, history_path: Path | None = None):
        self.out = stdout or sys.stdout
        self.stdin = stdin or sys.stdin
        self.interactive_in = _isatty(self.stdin)
        self.rich = _isatty(self.out) and not os.environ.get("NO_COLOR")
        self.console = Console(
            file=self.out,
            force_terminal=self.rich,
            no_color=not self.rich,
            highlight=False,
            soft_wrap=not self.rich,
            emoji=False,
        )
        self._history_path = history_path
        self._session = None
        self._completion: tuple[list[str], Callable[[], Path]] | None = None
        # Piped input: a line read as an approval answer that was not one, kept for the next prompt.
        self._pending_line: str | None = None
        self._markdown: MarkdownStream | None = None  # while an answer streams (terminal only)
        self._streamed = ""
        self._status = None
        self._running: ToolProgress | None = None  # the tool call running now

    # -- output -----------------------------------------------------------------------------------

    def header(self, model_id: str, root: Path, mode: str, sandbox: str, conversation_id: str) -> None:
        line = f"llm code · {model_id} · {root} · {mode} · {sandbox}"
        self.console.print(Text(line, style="bold"))
        self.console.print(
            Text(f"conversation {conversation_id} · !help for commands · Ctrl-D to exit", style="dim")
        )

    def notice(self, message: str, style: str = "yellow") -> None:
        self._end_stream()
        self.console.print(Text(message, style=style))

    def error(self, message: str) -> None:
        self.notice(f"Error: {message}", style="bold red")

    def echo_message(self, message: str) -> None:
        """Show a message the user did not type at the prompt (a task argument, a piped line)
        the way a typed one looks, so the transcript says what each turn answers."""
        self.notice(f"› {first_line(message)}", style="bold")

    def waiting(self) -> None:
        """A spinner until the first output of a model response (terminal only)."""
        if self.rich and self._status is None:
            self._status = self.console.status("thinking…", spinner="dots")
            self._status.start()

    def _stop_waiting(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def stream_text(self, chunk: str) -> None:
        self._stop_waiting()
        self._streamed += chunk
        if self.rich:
            if self._markdown is None:
                self._markdown = MarkdownStream(self.console)
            self._markdown.feed(chunk)
        else:
            self.out.write(chunk)
            self.out.flush()

    def _end_stream(self) -> None:
        self._stop_waiting()
        if self._markdown is not None:
            self._markdown.finish()
            self._markdown = None
        elif self._streamed and not self._streamed.endswith("\n"):
            self.out.write("\n")
            self.out.flush()
        self._streamed = ""

    def end_turn(self) -> bool:
        """The turn is over. True when it ended with a tool still running (Ctrl-C stopped it):
        then the line saying which, and after how long, is shown."""
        self._end_stream()
        running, self._running = self._running, None
        if running is None:
            return False
        running.stop()
        self.notice(f"Interrupted: {running.describe()} (after {running.elapsed:.1f}s)")
        return True

    def tool_started(self, call: llm.ToolCall) -> None:
        """A tool begins to run: a live line with its elapsed time (terminal only)."""
        self._end_stream()
        if self._running is not None:
            self._running.stop()
        self._running = ToolProgress(*tool_label(call), console=self.console if self.rich else None)

    def tool_output(self, text: str) -> None:
        """Output of the running command, as it arrives."""
        if self._running is not None:
            self._running.feed(text)

    def tool_line(
        self, call: llm.ToolCall, result: llm.ToolResult, show_diff: bool = True, show_output: bool = False
    ) -> None:
        """The one-line summary of a finished call (replacing its live line), the diff of an edit
        and, with ``show_output``, a command's output collapsed to its first and last lines."""
        self._end_stream()
        running, self._running = self._running, None
        if running is not None:
            running.stop()
        name, key, outcome = tool_summary(call, result)
        failed = outcome.startswith(("error", "declined")) or outcome.startswith("exit ") and outcome != "exit 0"
        style = "red" if failed else "green"
        line = tool_heading(name, key, "● ", style)
        line.append(f" → {outcome}", style=style)
        if running is not None and running.elapsed >= 1:
            line.append(f" · {running.elapsed:.1f}s", style="dim")
        self.console.print(line)
        if show_diff and name == "edit_file" and not outcome.startswith(("error", "declined")):
            self.show_diff("\n".join(_tool_output(result).splitlines()[1:]))
        if show_output and name == "execute_command" and not outcome.startswith("declined"):
            for text in collapsed_output_texts(result.output or "", failed):
                self._print_line(text)

    def show_output(self, output: str) -> None:
        """A command's whole output (``!output``)."""
        self._end_stream()
        for line in output.split("\n"):
            self.console.print(Text(clean_line(line)))

    def status(self, line: str) -> None:
        """The dim line after a turn (model, context, tokens, time), cut at the terminal width."""
        self._end_stream()
        self._print_line(Text(line, style="dim"))

    def line(self, text: Text) -> None:
        """One rendered line (a sub-agent's block), after what streamed before it."""
        self._end_stream()
        self._print_line(text)

    def _print_line(self, text: Text) -> None:
        """One line, cut with "…" at the terminal width rather than wrapped (a terminal only:
        piped output keeps whole lines)."""
        if self.rich:
            self.console.print(text, no_wrap=True, overflow="ellipsis", crop=True)
        else:
            self.console.print(text)

    def show_diff(self, diff: str) -> None:
        if self.rich:
            for text in diff_texts(diff, self.console.width):
                self._print_line(text)
            return
        for line in diff.splitlines():
            if line.startswith(("+++", "---")):
                style = "bold"
            elif line.startswith("+"):
                style = "green"
            elif line.startswith("-"):
                style = "red"
            elif line.startswith("@@"):
                style = "cyan"
            else:
                style = "dim"
            self.console.print(Text(line, style=style))

    # -- input ------------------------------------------------------------------------------------

    def read_prompt(self) -> str | None:
        """One user message; None at end of input. Raises KeyboardInterrupt on Ctrl-C."""
        self._end_stream()
        if not self.interactive_in:
            line = self._next_piped_line()
            if not line:
                return None
            text = line.rstrip("\n")
            # A trailing backslash continues the message on the next line.
            while text.endswith("\\"):
                more = self.stdin.readline()
                if not more:
                    break
                text = text[:-1] + "\n" + more.rstrip("\n")
            if text.strip():
                self.echo_message(text)
            return text
        session = self._prompt_session()
        try:
            return session.prompt("› ")
        except EOFError:
            return None

    def set_completion(self, commands: list[str], root: Callable[[], Path]) -> None:
        """What Tab completes at the prompt: these session commands, ``@`` paths under ``root()``
        and (after ``!model``) model ids."""
        self._completion = (commands, root)

    def _prompt_session(self):
        if self._session is None:
            from prompt_toolkit import PromptSession
            from prompt_toolkit.history import FileHistory, InMemoryHistory

            from .keys import prompt_key_bindings

            completer = None
            if self._completion is not None:
                from .completion import SessionCompleter

                completer = SessionCompleter(*self._completion)
            history = FileHistory(str(self._history_path)) if self._history_path else InMemoryHistory()
            self._session = PromptSession(
                history=history,
                key_bindings=prompt_key_bindings(),
                multiline=False,
                prompt_continuation="  ",
                completer=completer,
                complete_while_typing=False,  # Tab asks; typing never pops a menu up
            )
        return self._session

    def choose(self, question: str, count: int) -> int | None:
        """A number from 1 to ``count`` the user types; None for an empty answer or end of input
        (piped input: a line that is no such number is kept as the next message)."""
        self._end_stream()
        while True:
            reply = self._ask_line(f"? {question} › ")
            if reply is None or not reply.strip():
                return None
            text = reply.strip().rstrip(".")
            if text.isdigit() and 1 <= int(text) <= count:
                return int(text)
            if not self.interactive_in:
                self._keep_for_next_message(reply)
                return None
            self.console.print(Text(f"  type a number from 1 to {count}, or just Enter", style="dim"))

    def ask_approval(
        self, title: str, preview: str, always: str | None,
        edit: Callable[[], tuple[str | None, str]] | None = None,
    ) -> ApprovalAnswer:
        """Show what a call would do and ask y / a / n[: reason], and for a file change e (edit:
        ``edit()`` runs the editor and gives (edited content, or None and why not))."""
        self._end_stream()
        self.console.print(Text(f"? {title}", style="bold yellow"))
        if preview.startswith("$ "):
            self.console.print(Text(preview, style="bold"))
        elif preview:
            self.show_diff(preview)
        # The choices fit a 64-column terminal; what "always" would allow goes on its own line.
        if always:
            self.console.print(Text(f"  a = always: {always}", style="dim"))
        choices = "[y]es  " + ("[a]lways  " if always else "") + ("[e]dit  " if edit else "") + "[n]o  (n: reason)"
        while True:
            reply = self._ask_line(f"  {choices} › ")
            if reply is None:
                return ApprovalAnswer("no", "no answer (end of input)")
            reply = reply.strip()
            low = reply.lower()
            if low in ("y", "yes"):
                return ApprovalAnswer("yes")
            if always and low in ("a", "always"):
                return ApprovalAnswer("always")
            if edit and low in ("e", "edit"):
                content, problem = edit()
                if content is not None:
                    return ApprovalAnswer("edit", content=content)
                self.console.print(Text(f"  {problem}", style="dim"))
                continue
            if low in ("n", "no") or low.startswith(("n:", "n ", "no:", "no ")):
                reason = reply.split(":", 1)[1].strip() if ":" in reply else reply[1:].strip() if low.startswith("n ") else ""
                return ApprovalAnswer("no", reason)
            if not self.interactive_in:
                self._keep_for_next_message(reply)
                self.console.print(Text("  not y, a or n: declined; the line is kept as the next message",
                                        style="dim"))
                return ApprovalAnswer("no", "no answer (the next input line was not y, a or n)")
            letters = ["y"] + (["a"] if always else []) + (["e"] if edit else [])
            self.console.print(Text(f"  please answer {', '.join(letters)} or n", style="dim"))

    def confirm(self, question: str) -> bool:
        self._end_stream()
        reply = self._ask_line(f"? {question} [y/n] › ")
        if reply is None:
            return False
        low = reply.strip().lower()
        if not self.interactive_in and low not in ("y", "yes", "n", "no"):
            self._keep_for_next_message(reply)
            return False
        return low in ("y", "yes")

    def ask_line(self, prompt: str) -> str | None:
        """One line answering a question (None at end of input)."""
        self._end_stream()
        return self._ask_line(prompt)

    def _keep_for_next_message(self, line: str) -> None:
        # Piped input has nobody to ask again: a line that is no answer was meant for later (the
        # next message), so it is kept for the next prompt instead of being lost. A blank line is
        # no message: it just declines.
        if line.strip():
            self._pending_line = line + "\n"

    def _next_piped_line(self) -> str:
        """The next input line ("" at the end): a line kept back first, then stdin."""
        line, self._pending_line = self._pending_line or self.stdin.readline(), None
        return line

    def _ask_line(self, prompt: str) -> str | None:
        if self.interactive_in:
            from prompt_toolkit import prompt as pt_prompt

            try:
                return pt_prompt(prompt)
            except EOFError:
                return None
        self.out.write(prompt)
        self.out.flush()
        # A line already kept for the next message is offered again (and kept again), so later
        # questions in the same turn cannot reach past it into the input.
        line = self._next_piped_line()
        if not line:
            return None
        self.out.write(line if line.endswith("\n") else line + "\n")
        return line.rstrip("\n")


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
