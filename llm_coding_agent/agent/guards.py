"""Guards the loop applies between rounds: a model going round in circles, and code shown in an
answer but never applied. Budgets (tokens, turns, rounds) are checked in the loop itself."""

from __future__ import annotations

import re

import llm

from ..safety.approval import call_signature
from ..tools import FILE_CHANGING_TOOLS, short_tool_name
from .results import AgentResult

__all__ = [
    "RepeatTracker", "REPEAT_WARN", "REPEAT_STOP", "UNAPPLIED_CODE_NUDGE", "CHANGE_WITH_EDITS", "CHANGE_WITH_WRITES",
    "ECHO_NUDGE", "ECHOED_ANSWER", "changed_a_file", "echoed_answer_replacement",
    "shows_unapplied_code", "echoes_instructions",
]

#: Identical calls in one run, with nothing changed in between, before the model is told to
#: change approach...
REPEAT_WARN = 2
#: ...and before the run is stopped (failed tasks cost several times the tokens of solved ones,
#: so a model that is going round in circles is stopped early).
REPEAT_STOP = 4

#: What a headless run sends once when the model answers with code instead of applying it.
UNAPPLIED_CODE_NUDGE = (
    "[Note from the system: your answer shows code, but no file in the project was changed. "
    "Nobody will copy it over for you. If the request needs a change, make it now with the "
    "tools (read_file, then {change}) and verify it; if no change is needed, say so in one "
    "sentence.]"
)
#: How UNAPPLIED_CODE_NUDGE names the way to change a file, with and without edit_file offered.
CHANGE_WITH_EDITS = "edit_file or write_file"
CHANGE_WITH_WRITES = "write_file with the file's complete new content"
#: Sent once when a small model's final answer only repeats the request and the agent's own
#: lines (the 1.5B model answered "The change was written. Read the request again: ..." after a
#: first partial edit, and the run ended there). ``{request}``: the user's request.
ECHO_NUDGE = (
    "[Note from the system: your reply repeated the instructions instead of answering. The "
    "request was: \"{request}\". Compare the files you changed with every part of it. If a part "
    "is not done yet, make the tool call for it now. If everything is done, say in your own words, "
    "in one or two sentences, what you changed.]"
)
#: What the user reads instead of an answer that still only repeats the instructions after
#: ECHO_NUDGE: the 1.5B model ended a run with "The change was written. Read the request again: ...",
#: the agent's own step line, as its final answer.
ECHOED_ANSWER = "(The model's answer only repeated the agent's instructions.) {changed}"


def echoed_answer_replacement(result: AgentResult) -> str:
    """The final text for a run whose answer was only an echo: which files the run changed."""
    paths: list[str] = []
    for call, tool_result in result.tool_calls:
        path = call.arguments.get("path") if isinstance(call.arguments, dict) else None
        if changed_a_file(call, tool_result) and isinstance(path, str) and path not in paths:
            paths.append(path)
    changed = f"Files changed in this run: {', '.join(paths)}." if paths else "No file was changed in this run."
    return ECHOED_ANSWER.format(changed=changed)


#: Share of an answer's word 4-grams found in the instructions from which it is an echo.
_ECHO_SHARE = 0.75
#: Word 4-grams an answer needs before it can be an echo (6 words).
_MIN_ECHO_GRAMS = 3
_WORD = re.compile(r"[\w'-]+")
#: A fenced code block of at least two lines.
_CODE_BLOCK = re.compile(r"```[^\n`]*\n(?:[^\n]*\n){2,}?\s*```")


def changed_a_file(call: llm.ToolCall, result: llm.ToolResult) -> bool:
    """The call wrote or edited a file of the project."""
    return (
        short_tool_name(call.name) in FILE_CHANGING_TOOLS
        and not result.exception
        and not result.output.startswith(("Error:", "Cancelled", "Unchanged"))
    )


def shows_unapplied_code(result: AgentResult) -> bool:
    """The run's answer shows code although no file was changed in it."""
    if any(changed_a_file(call, tool_result) for call, tool_result in result.tool_calls):
        return False
    return bool(_CODE_BLOCK.search(result.text))


class RepeatTracker:
    """Spots a model going round in circles within one run.

    A call counts as a repeat when the same tool was called with the same arguments and got the
    same outcome (the same error, or byte-identical output) with no file written or edited in
    between. Editing a file and re-running the tests is progress, not a loop, so every successful
    file change starts the count afresh.
    """

    def __init__(self) -> None:
        self.counts: dict[tuple, int] = {}
        self.changes = 0
        #: "repeated_failures" or "repeated_calls" once a call reached ``REPEAT_STOP``.
        self.stop_reason: str | None = None

    def observe(self, call: llm.ToolCall, result: llm.ToolResult) -> str | None:
        """Record one executed call; returns a note to append to its result, if any."""
        arguments = call.arguments if isinstance(call.arguments, dict) else {}
        failed = result.output.startswith("Error:")
        key = (call_signature(call.name, arguments), self.changes)
        if not failed:
            key += (hash(result.output),)
        count = self.counts[key] = self.counts.get(key, 0) + 1
        if changed_a_file(call, result):
            self.changes += 1
        if count >= REPEAT_STOP and self.stop_reason is None:
            self.stop_reason = "repeated_failures" if failed else "repeated_calls"
        if count < REPEAT_WARN:
            return None
        if failed:
            return (
                f"\n[This identical call has failed {count} times. Do not repeat "
                "it: read the error, check your assumptions (read the file, list the "
                "directory), and try a different approach.]"
            )
        return (
            f"\n[You have made this identical call {count} times and got exactly the same result; "
            "nothing changed in between. Repeating it will not help: act on what it shows "
            "(change the code), try something else, or give your final answer.]"
        )


def _four_grams(text: str) -> list[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return [tuple(words[i:i + 4]) for i in range(len(words) - 3)]


def echoes_instructions(answer: str, instructions: list[str]) -> bool:
    """The answer is (nearly) nothing but the ``instructions`` repeated: at least three quarters of
    its word 4-grams occur in them. A real summary shares words with the request, not whole runs
    of them; an answer of fewer than 6 words is never an echo ("No change is needed." answers a
    nudge that offers those words; it is wrong or right, not an echo)."""
    grams = _four_grams(answer)
    if len(grams) < _MIN_ECHO_GRAMS:
        return False
    known = set()
    for text in instructions:
        known.update(_four_grams(text))
    return sum(g in known for g in grams) / len(grams) >= _ECHO_SHARE
