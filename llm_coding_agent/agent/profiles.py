"""Model profiles: how the agent talks to one kind of model.

A frontier model reads a long system prompt and detailed tool descriptions and needs no hand
holding; a 1.5B model on a laptop loses the thread in the same words. A profile holds the
choices that differ, chosen by model id (:func:`profile_for`) and overridable with
``--profile`` or the ``profile`` setting. Nothing here changes what the tools allow: a profile
changes what the model is told, how forgiving the file tools are with its mistakes
(:meth:`ModelProfile.toolbox_options`), and whether the agent checks its work with the tests.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import llm

from ..tools import CODING_TOOL_PREFIX, FILE_CHANGING_TOOLS, short_tool_name

__all__ = ["ModelProfile", "PROFILES", "PROFILE_NAMES", "profile_for", "SMALL_TOOL_DESCRIPTIONS", "NEXT_STEP_HINT", "ERROR_STEP_HINT", "CHECK_STEP_HINT", "CHANGED_STEP_HINT", "STEP_HINTS", "next_step_hint", "described_tools"]


@dataclass(frozen=True)
class ModelProfile:
    """The choices that differ between kinds of models."""

    name: str
    """``default`` or ``small``."""

    compact_prompt: bool = False
    """A short system prompt: a few rules in plain words, nothing a small model can misread."""

    short_tool_descriptions: bool = False
    """One sentence per tool instead of the full docstrings (fewer tokens, less to confuse)."""

    next_step_hint: bool = False
    """With each batch of tool results, one line saying what to do next (answer in plain text once
    the request is met). Small models otherwise keep calling tools after the answer is in hand."""

    lenient_edits: bool = False
    """``edit_file`` tolerates what small models get wrong when copying ``old_string``: line-number
    prefixes copied from ``read_file``, trailing whitespace, a uniform indentation difference
    (``new_string`` is re-indented to match). Only when exactly one region of the file matches;
    the result says what was tolerated."""

    check_edits: bool = False
    """A ``.py`` file is not written when the change would leave it with a SyntaxError (the error
    shows the lines around it); an accepted change ends with a ``Check:`` line naming undefined
    names it leaves. SWE-agent measured 15 % → 18 % solved with such a check."""

    prefer_whole_file: bool = False
    """Whole-file rewrites are the format small models get right most often: when ``edit_file``
    finds no match in a small file, its error suggests ``write_file`` with the complete content,
    and a ``write_file`` that leaves out functions or classes the file defines is refused until
    sent again (tools/wholefile.py)."""

    repair_call_json: bool = False
    """Tool calls written as text whose JSON is broken (unescaped quotes, raw newlines in strings)
    are repaired instead of being ignored; the rules for what counts as a call stay the same."""

    verify_with_tests: bool = False
    """When the model ends a run that changed files without running the tests after its last
    change, the agent runs them once itself (through the same approval and sandbox) and, if they
    fail, sends the failure back for the model to fix."""

    catch_echoed_answers: bool = False
    """A final answer that only repeats the request and the agent's step lines is sent back once
    with the request quoted (agent/guards.py ``echoes_instructions``): the 1.5B model ended runs
    with half the change made and the step line repeated as its "answer"."""

    suggest_shown_code: bool = False
    """A headless answer that shows a new version of functions or classes one project file
    defines, without writing it, gets back the finished ``write_file`` call for that file
    (agent/shown_code.py) instead of the generic "apply it" nudge: the 1.5B model printed the
    right fix in prose and, asked to apply it, said "No change is needed". The model still sends
    the call (nothing in an answer becomes a call by itself)."""

    locate_definitions: bool = False
    """A request that names no file but names a function or class (``top_words crashes``) gets the
    files defining it attached, found by one search (the localisation step of Agentless, done by
    the harness: small models otherwise edit a guessed file or read the wrong one)."""
    offers_edit_file: bool = True
    """``edit_file`` is offered. Off for small models, as Aider gives weak models its "whole"
    edit format: the 1.5B model kept ``edit_file`` when told to prefer whole files, and its edits
    were the failures (the first part of a change made and the rest forgotten, an old_string
    re-sent after it was replaced, a function body replaced by a whole new function). With only
    ``write_file`` it writes every part of a change at once; tools/wholefile.py keeps such writes
    from losing code."""
    offers_delegate: bool = True
    """The ``delegate`` tool is offered (a sub-agent with a fresh context; agent/subagents.py).
    Off for small models: one more tool and one more way to lose the thread, and a sub-agent of
    a small model is no better at the task than the model itself."""

    max_output_tokens: int | None = None
    """The most tokens one answer may generate, sent as the model's ``max_tokens`` option when it
    has one and the user set none (``-o max_tokens N`` overrides it). 1,024 for small models:
    on 2 cores the 1.5B model writes ~10 tokens a second, and in the suite's jsonfence run 4 of
    16 tasks spent their whole 300 s on a single answer of 1,450-2,000 tokens (the largest
    file of the suite is 882 characters, ~250 tokens)."""

    offers_skills: bool = True
    """Skills (``activate_skill`` and their list in the system prompt) are offered, when there are
    any. Off for small models: the 1.5B model called ``activate_skill("extract-function",
    file="todo.py")`` on a one-file task instead of changing the file. A model switch to another
    profile offers or withholds them again, and the next request carries that profile's system
    prompt."""

    offers_todos: bool = True
    """The ``update_todos`` tool is offered outside plan mode with no todo list yet (in plan mode
    and once a plan was approved it always is). Off for small models: on the suite's one-file
    tasks the 1.5B model spent its calls writing and rewriting a seven-step list and then
    answered without changing anything, and once sent 23 identical ``update_todos`` calls in one
    answer."""

    offers_create_tool: bool = True
    """The ``create_tool`` tool is offered (the model writes a tool of its own; agent/written_tools.py).
    Off for small models: writing a working tool is harder than the task it would help with, and
    every tool offered is one more to choose wrongly. Tools saved earlier still load."""
    attempts: int = 1
    """Independent attempts per request (agent/attempts.py) when the project has tests and the user
    set no ``attempts``. 1 in every profile for now: more multiplies the time of every request, and
    no benchmark run has measured what it buys a small model yet."""

    def toolbox_options(self) -> dict[str, bool]:
        """The profile's choices that :class:`~llm_coding_agent.tools.CodingTools` applies itself
        (keyword arguments and attributes of the same names)."""
        return {
            "lenient_edits": self.lenient_edits,
            "check_edits": self.check_edits,
            "prefer_whole_file": self.prefer_whole_file,
        }


PROFILES = {
    "default": ModelProfile("default"),
    "small": ModelProfile(
        "small",
        compact_prompt=True,
        short_tool_descriptions=True,
        next_step_hint=True,
        lenient_edits=True,
        check_edits=True,
        prefer_whole_file=True,
        repair_call_json=True,
        verify_with_tests=True,
        locate_definitions=True,
        catch_echoed_answers=True,
        suggest_shown_code=True,
        offers_edit_file=False,
        offers_delegate=False,
        offers_create_tool=False,
        offers_todos=False,
        offers_skills=False,
        max_output_tokens=1024,
    ),
}
#: Values of the ``profile`` option.
PROFILE_NAMES = ("auto", *PROFILES)

#: Model ids that get the ``small`` profile under ``auto``: the built-in model, the local server
#: of ``shared/localmodel``, and ids that name a size of 4B parameters or less.
_SMALL_IDS = re.compile(
    r"^(code-local|local-qwen)$|(?<![\d.])(0\.5|0\.6|1|1\.5|1\.7|1\.8|2|3|3\.8|4)b\b", re.IGNORECASE
)


def profile_for(model_id: str, setting: "str | ModelProfile | None" = "auto") -> ModelProfile:
    """The profile for ``model_id``: the one ``setting`` names (or is: the Python API takes a
    :class:`ModelProfile` of one's own, e.g. ``dataclasses.replace(PROFILES["small"], ...)``), or
    under ``auto`` the one its id suggests (``small`` for the built-in model and ids naming ≤ 4B
    parameters)."""
    if isinstance(setting, ModelProfile):
        return setting
    if setting and setting != "auto":
        try:
            return PROFILES[setting]
        except KeyError:
            raise ValueError(f"unknown profile {setting!r}: use one of {', '.join(PROFILE_NAMES)}") from None
    return PROFILES["small" if _SMALL_IDS.search(model_id or "") else "default"]


#: One sentence per tool for the ``small`` profile (the argument schemas stay as they are).
SMALL_TOOL_DESCRIPTIONS = {
    "read_file": "Read a file. Lines come back numbered; the numbers are not part of the file.",
    "write_file": "Create a file, or change a file by sending its complete new content (every line).",
    "edit_file": "Change a file: old_string, copied exactly from the file without the line numbers, "
    "becomes new_string.",
    "list_files": "List the project's files matching a glob such as **/*.py.",
    "search_files": "Search the project's files for a regular expression; answers path:line:text.",
    "execute_command": "Run a shell command in the project directory, such as python -m pytest -q; "
    "answers its output and exit code.",
}

#: Sent with each batch of tool results under ``next_step_hint``.
NEXT_STEP_HINT = (
    "If you now have what the request needs, give your final answer in plain text with no tool "
    "call. Otherwise make the next tool call."
)
#: Sent instead when a result of the batch is an error: "answer now" after a failed call made the
#: 1.5B model hand the error text back as its answer.
ERROR_STEP_HINT = (
    "A tool answered with an Error: read what it says and make a corrected tool call. Do not "
    "give a final answer yet."
)
#: Sent when a file change went in but its check found a problem (undefined names): "answer now"
#: there made the 1.5B model stop with the broken change, or answer with an invented error.
CHECK_STEP_HINT = (
    "Your change was written, but the Check line above found a problem in it. Fix it with another "
    "change before giving a final answer."
)
#: Sent after a file change that went in cleanly: small models treated the first edit as the end
#: of a request with several parts ("deposit() and withdraw() must..." done for one of the two).
CHANGED_STEP_HINT = (
    "Your change was written. Read the request again: if any part of it is not done yet, make the "
    "next tool call for it. When every part is done, give your final answer in plain text with no "
    "tool call."
)
#: Every line the agent adds under ``next_step_hint`` (readers of the logs skip them).
STEP_HINTS = (NEXT_STEP_HINT, ERROR_STEP_HINT, CHECK_STEP_HINT, CHANGED_STEP_HINT)

#: What starts the Check line of a change that compiles but leaves problems (tools/checks.py).
_CHECK_PROBLEM = "\nCheck: compiles, but "


def next_step_hint(results: list[llm.ToolResult]) -> str:
    """The line sent with a batch of tool results under ``next_step_hint``: by what happened
    (an error; a change whose check found a problem; a clean change; anything else)."""
    outputs = [r.output or "" for r in results]
    if any(o.startswith("Error:") for o in outputs):
        return ERROR_STEP_HINT
    if any(_CHECK_PROBLEM in o for o in outputs):
        return CHECK_STEP_HINT
    if any(short_tool_name(r.name or "") in FILE_CHANGING_TOOLS for r in results):
        return CHANGED_STEP_HINT
    return NEXT_STEP_HINT


def described_tools(tools: list[llm.Tool], profile: ModelProfile) -> list[llm.Tool]:
    """``tools`` with the descriptions ``profile`` calls for: the coding tools' one-sentence
    versions under ``short_tool_descriptions``, their full docstrings otherwise. Other tools keep
    their own descriptions; the tools themselves (implementation, schema) are the same."""
    from ..tools import CodingTools

    described = []
    for tool in tools:
        name = short_tool_name(tool.name)
        if tool.name.startswith(CODING_TOOL_PREFIX) and name in SMALL_TOOL_DESCRIPTIONS:
            short = profile.short_tool_descriptions
            # The full text is the method's docstring, as llm.Toolbox describes it.
            text = SMALL_TOOL_DESCRIPTIONS[name] if short else getattr(CodingTools, name).__doc__
            tool = dataclasses.replace(tool, description=text)
        described.append(tool)
    return described
