"""Closing the loop with the tests: which commands are test runs, how they ended, and (under the
``verify_with_tests`` profile choice) running the tests when the model ends a run that changed
files without having run them after its last change.

Aider retried until the tests passed and went from 20.3 % to 26.3 % on SWE-bench Lite; a small
model rarely runs the tests unprompted, so the agent runs them for it, through the same tool,
approval and sandbox as any command, and sends a failure back to be fixed. At most
:data:`MAX_TEST_CHECKS` times a run: the second check only when the model changed files again
after a failing one, so its fix is checked too and the run's ``tests_passed`` says how it ended.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import Iterable

import llm

from ..safety.cmdline import UnparsableCommand, simple_commands
from ..tools import CODING_TOOL_PREFIX, short_tool_name
from .examples import EXAMPLES_FAIL_PROMPT, example_check_command, request_examples
from .guards import changed_a_file
from .results import AgentResult

__all__ = [
    "VerifyWithTests",
    "TESTS_FAIL_PROMPT",
    "is_test_command",
    "outcome_of_test_run",
    "last_test_outcome",
    "needs_verification",
    "project_has_tests",
    "command_for_tests",
    "MAX_TEST_CHECKS",
]

#: What the model is told, with the output, when the tests the agent ran fail.
TESTS_FAIL_PROMPT = "The tests fail after your change; fix the code."
#: Characters of a failing run's output sent to the model (the end, where the summary is).
MAX_FAILURE_CHARS = 6_000
#: The id of the test run the agent makes itself (callbacks and ``--json`` events show it).
VERIFY_CALL_ID = "llm-code-verify-tests"
#: Checks the agent runs in one run, at most (each costs a test run and, failing, a model call).
MAX_TEST_CHECKS = 2

_COMMAND_TOOL = f"{CODING_TOOL_PREFIX}execute_command"
#: Programs that are test runners whatever their arguments.
_RUNNERS = {"pytest", "py.test", "nosetests", "tox", "nox", "jest", "vitest", "mocha", "rspec", "phpunit", "ctest"}
#: Modules that are test runners under ``python -m``.
_RUNNER_MODULES = {"pytest", "unittest", "tox", "nox", "nose"}
#: Programs whose ``test`` subcommand (or script) runs the tests: ``npm test``, ``go test``, ...
_TEST_SUBCOMMAND = {"npm", "pnpm", "yarn", "bun", "go", "cargo", "dotnet", "mix", "swift", "deno", "mvn", "gradle", "gradlew", "make"}
_TEST_FILE = re.compile(r"(^|/)(test_[^/]*|[^/]*_test|tests?)\.py$")
_EXIT_CODE = re.compile(r"^Exit code: (-?\d+)", re.MULTILINE)
#: What the command tool appends when a runner ran no tests (``shell.NO_TESTS_NOTE``).
_NO_TESTS = "Note: no tests ran"
#: pytest's exit status when it collected no tests, and unittest's since Python 3.12.
_NO_TESTS_EXIT = 5


def _is_test_run(words: list[str]) -> bool:
    if not words:
        return False
    program = os.path.basename(words[0])
    if program in _RUNNERS:
        return True
    if re.fullmatch(r"python[\d.]*", program):
        if "-m" in words[1:-1]:
            return words[words.index("-m") + 1] in _RUNNER_MODULES
        script = next((w for w in words[1:] if not w.startswith("-")), "")
        return bool(_TEST_FILE.search(script)) or (script.endswith("manage.py") and "test" in words)
    if program in _TEST_SUBCOMMAND:
        subcommands = [w for w in words[1:] if not w.startswith("-")]
        if program == "make":
            return bool({"test", "check"} & set(subcommands))
        return "test" in subcommands[:2]
    return False


def is_test_command(command: str) -> bool:
    """``command`` runs a test suite (pytest, unittest, tox, npm test, go test, cargo test ...),
    anywhere in its pipelines and lists; installing a test runner is not a test run."""
    try:
        return any(_is_test_run(cmd.words) for cmd in simple_commands(command))
    except UnparsableCommand:
        return any(_is_test_run(part.split()) for part in re.split(r"&&|\|\||[;|\n]", command))


def outcome_of_test_run(output: str) -> bool | None:
    """Whether the test command whose tool result is ``output`` passed: None when it did not run
    (declined, refused, no sandbox) or ran no tests. A timeout is a failure."""
    if output.startswith("Error: command timed out"):
        return False
    if output.startswith(("Error:", "Cancelled")) or _NO_TESTS in output:
        return None
    codes = _EXIT_CODE.findall(output)
    if not codes or int(codes[-1]) == _NO_TESTS_EXIT:
        return None
    return int(codes[-1]) == 0


def _command(call: llm.ToolCall) -> str | None:
    """The command of an ``execute_command`` call (None for any other call)."""
    if short_tool_name(call.name) != "execute_command" or not isinstance(call.arguments, dict):
        return None
    command = call.arguments.get("command")
    return command if isinstance(command, str) else None


def last_test_outcome(tool_calls: Iterable[tuple[llm.ToolCall, llm.ToolResult]]) -> bool | None:
    """Whether the last test command that ran among ``tool_calls`` passed (None: none ran, or a
    file changed after it, so what it said is out of date). The agent's check of the request's
    examples, run for want of tests, counts when they fail (a run that ends with them failing
    must not look like a success) and not when they hold (one example is not a test suite)."""
    outcome = None
    for call, result in tool_calls:
        if changed_a_file(call, result):
            outcome = None
            continue
        command = _command(call)
        if command is None:
            continue
        if is_test_command(command):
            this = outcome_of_test_run(result.output)
        elif call.tool_call_id == VERIFY_CALL_ID:
            this = False if outcome_of_test_run(result.output) is False else None
        else:
            continue
        outcome = this if this is not None else outcome
    return outcome


def needs_verification(tool_calls: list[tuple[llm.ToolCall, llm.ToolResult]]) -> bool:
    """Files were changed and no test command was tried after the last change (one the user
    declined counts as tried: they do not want it run)."""
    last_change = max((i for i, (c, r) in enumerate(tool_calls) if changed_a_file(c, r)), default=None)
    if last_change is None:
        return False
    return not any(
        (command := _command(call)) is not None and is_test_command(command)
        for call, _ in tool_calls[last_change + 1 :]
    )


def _changed_since_check(tool_calls: list[tuple[llm.ToolCall, llm.ToolResult]]) -> bool:
    """A file changed after the agent's last check."""
    last_check = max((i for i, (c, _) in enumerate(tool_calls) if c.tool_call_id == VERIFY_CALL_ID), default=-1)
    return any(changed_a_file(c, r) for c, r in tool_calls[last_check + 1 :])


_SKIPPED_DIRS = {"node_modules", "__pycache__", "site-packages", "venv", "env", "build", "dist"}
#: Directory entries looked at, at most, when searching a project for test files.
_MAX_ENTRIES = 5_000


def _python_test_files(root: Path) -> bool:
    """``root`` has Python tests: a ``tests``/``test`` directory with ``.py`` files, or files named
    ``test_*.py`` / ``*_test.py`` (a bounded walk that skips hidden and dependency directories)."""
    seen = 0
    for directory, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS]
        seen += len(dirs) + len(names)
        in_tests = Path(directory).name in ("tests", "test")
        if any(n.endswith(".py") and (in_tests or _TEST_FILE.search(n)) for n in names):
            return True
        if seen > _MAX_ENTRIES:
            return False
    return False


#: A command the request names: in backticks or quotes.
_QUOTED = re.compile(r"`([^`\n]+)`|\"([^\"\n]+)\"|'([^'\n]+)'")


def _named_test_command(request: str) -> str | None:
    for match in _QUOTED.finditer(request or ""):
        text = next(g for g in match.groups() if g is not None).strip()
        if is_test_command(text):
            return text
    return None


def project_has_tests(root: Path, request: str = "") -> bool:
    """The project has tests the agent can run: Python test files, or a test command named in
    the request."""
    return _named_test_command(request) is not None or _python_test_files(root)


def command_for_tests(root: Path, request: str = "") -> str | None:
    """The command that runs ``root``'s tests: the one the request names (in backticks or quotes),
    else ``python -m pytest -q`` when pytest is installed (in this interpreter, normally the
    project's ``python`` too), else ``python -m unittest -q``; None when there are no tests."""
    named = _named_test_command(request)
    if named:
        return named
    if not _python_test_files(root):
        return None
    return "python -m pytest -q" if importlib.util.find_spec("pytest") else "python -m unittest -q"


def failure_prompt(
    command: str, output: str, lead: str = TESTS_FAIL_PROMPT, why: str = "the tests", shown: str | None = None,
) -> str:
    if len(output) > MAX_FAILURE_CHARS:
        output = "[... earlier output omitted]\n" + output[-MAX_FAILURE_CHARS:]
    return (
        f"{lead} (You finished without running {why}, so they were run for you.)"
        f"\n\n$ {shown or command}\n{output}"
    )


class VerifyWithTests:
    """The test run of :class:`~llm_coding_agent.CodingAgent` (a mixin, like
    :class:`~.calls.ToolCalls`): it relies on the agent's ``root``, ``execute_call``, ``_tool``,
    ``on_tool`` and ``_notice``."""

    def check_with_tests(self, result: AgentResult, run) -> str | None:
        """When ``result``'s calls changed files and no test command ran after the last change,
        run the project's tests through ``execute_command`` (approval, sandbox and callbacks as
        for the model's own calls). Returns the prompt to send when they fail, else None. At
        most :data:`MAX_TEST_CHECKS` times per run (``run`` is the loop's ``RunState``), and
        after the first only when files changed since the last check."""
        changed = needs_verification(result.tool_calls)
        if run.test_checks >= MAX_TEST_CHECKS or (
            run.test_checks and not (changed and _changed_since_check(result.tool_calls))
        ):
            return None
        run.test_checks += 1
        if self._tool(_COMMAND_TOOL) is None:
            return None
        command = command_for_tests(self.root, run.request) if changed else None
        lead, why, shown = TESTS_FAIL_PROMPT, "the tests", None
        if command is not None:
            self._notice(f"the model changed files without running the tests afterwards; running {command}")
        elif changed or request_examples(run.request):
            # No tests: the request's own examples (and doctests, after a change) are the check;
            # with no change they still catch "no change is needed" when the request says otherwise.
            command = example_check_command(
                run.request, self.coding_tools.search_files, self._project_text, doctests=changed,
            )
            if command is None:
                return None
            lead, why, shown = EXAMPLES_FAIL_PROMPT, "the request's examples", "python -c '<the request's examples>'"
            self._notice("the project has no tests; checking the examples the request gives")
        else:
            return None
        call = llm.ToolCall(name=_COMMAND_TOOL, arguments={"command": command}, tool_call_id=VERIFY_CALL_ID)
        try:
            tool_result = self.execute_call(call)
        except llm.PauseChain:
            return None  # the approver wants to decide later: there is no later for this run
        except KeyboardInterrupt:
            result.interrupted = True
            return None
        result.tool_calls.append((call, tool_result))
        if self.on_tool:
            self.on_tool(call, tool_result)
        if outcome_of_test_run(tool_result.output) is False:
            return failure_prompt(command, tool_result.output, lead, why, shown)
        return None

    def _project_text(self, path: str) -> str:
        try:
            return (self.root / path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
