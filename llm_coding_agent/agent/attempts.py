"""Candidates chosen by execution (``--attempts N``): the request is carried out N times, each in
its own scratch copy of the project (agent/scratch.py: a git worktree, or a copy), each checked
by the project's tests; the best change is then applied to the real tree through the normal
approval path.

How an attempt runs: a fresh :class:`~llm_coding_agent.CodingAgent` on the scratch copy, with
the session's model, rules and sandbox, and a fresh context holding only the request (its answer
is not streamed: the chosen attempt's answer is given once, at the end). Its file
changes are approved without asking (they land in the copy; the user approves the chosen change
when it is applied); everything else (commands, extra tools) goes to the session's approver, so
``--yolo``, ``--allow`` and headless declines work as in any run. Attempts after the first get a
different ``seed`` and a ``temperature`` of :data:`ATTEMPT_TEMPERATURE` when the model has those
options and the user did not set them, so they do not all repeat one answer.

How the best is chosen: after each attempt the project's tests (:func:`~.verify.command_for_tests`)
run in its copy, through the same approval; without them (or when they may not run) the attempt's
own last test run counts, such as a reproduction script it wrote and ran. Attempts that changed
files rank by: tests pass, then fewest failures, then the smallest change. The attempts stop at
the first one whose tests pass (later ones could only win on size), and at one that changed
nothing and simply answered (a question needs no candidates).

How it is applied: each changed file is one ``write_file`` call (a deleted file one ``rm``
command) through :meth:`execute_call`, so the user sees each file's diff and answers it as usual,
the reviewer sees it, and undo covers it. All or nothing: if one call is declined or fails, the
files already written are put back, because only the whole change was verified. A file that
changed in the project while the attempts ran is not overwritten (nothing is applied).
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from dataclasses import dataclass, field

import llm

from ..tools import CODING_TOOL_PREFIX, FILE_CHANGING_TOOLS, short_tool_name
from ..tools.files import atomic_write
from .results import AgentResult, AgentStateError, ModelError
from .scratch import FileChange, ScratchError, create_scratch, diff_stat
from .verify import command_for_tests, outcome_of_test_run, project_has_tests

__all__ = ["Attempts", "Attempt", "count_failures", "varied_options", "ATTEMPT_TEMPERATURE"]

#: The temperature of attempts after the first, when the model has the option and it is not set.
ATTEMPT_TEMPERATURE = 0.8
_WRITE_TOOL = f"{CODING_TOOL_PREFIX}write_file"
_COMMAND_TOOL = f"{CODING_TOOL_PREFIX}execute_command"
_PYTEST_SUMMARY = re.compile(r"\b(\d+) (?:failed|errors?)\b")
_PYTEST_LINE = re.compile(r"\b\d+ (?:passed|failed|errors?|skipped)\b.* in [\d.]+s\b")
_UNITTEST_SUMMARY = re.compile(r"\b(?:failures|errors)=(\d+)")


def count_failures(output: str) -> int | None:
    """Failed tests plus errors in a test run's output (pytest's or unittest's summary line);
    None when no summary is found."""
    for line in reversed(output.splitlines()):
        line = line.strip(" =")
        if _PYTEST_LINE.search(line):
            return sum(int(n) for n in _PYTEST_SUMMARY.findall(line))
        if line.startswith("FAILED ("):
            return sum(int(n) for n in _UNITTEST_SUMMARY.findall(line))
        if line == "OK" or line.startswith("OK ("):
            return 0
    return None


def varied_options(model: llm.Model, options: dict, number: int) -> dict:
    """The model options of attempt ``number``: the first keeps the user's; later ones add a seed
    and a temperature where the model has those options and the user set none."""
    varied = dict(options)
    if number <= 1:
        return varied
    fields = getattr(getattr(model, "Options", None), "model_fields", {}) or {}
    if "seed" in fields and "seed" not in options:
        varied["seed"] = number
    if "temperature" in fields and "temperature" not in options:
        varied["temperature"] = ATTEMPT_TEMPERATURE
    return varied


@dataclass
class Attempt:
    """One attempt: its run, what it changed, how its tests went."""

    number: int
    result: AgentResult | None = None
    changes: list[FileChange] = field(default_factory=list)
    #: Whether the tests passed in the attempt's copy (None: no tests ran).
    tests_passed: bool | None = None
    #: Failed tests and errors in that run (None: unknown).
    failures: int | None = None
    #: The test command run in the copy (None: the attempt's own last test run counted).
    test_command: str | None = None
    #: The model failed (the attempt is not a candidate).
    error: str | None = None
    #: This attempt's change was applied to the project.
    applied: bool = False
    #: Its scratch copy: ``worktree`` (git) or ``copy``.
    kind: str = ""

    @property
    def candidate(self) -> bool:
        """It changed files, ran to an end, and every change can be written as text."""
        return (
            self.error is None and bool(self.changes) and not (self.result and self.result.interrupted)
            and not any(c.binary for c in self.changes)
        )

    def rank(self) -> tuple:
        """Lower is better: tests pass, then unknown, then fail; fewest failures; smallest change."""
        order = {True: 0, None: 1, False: 2}[self.tests_passed]
        failures = self.failures if self.failures is not None else (0 if self.tests_passed else 10**6)
        return (order, failures, sum(c.changed_lines() for c in self.changes))

    def describe(self) -> str:
        if self.error:
            return f"attempt {self.number}: the model failed ({self.error})"
        tests = {True: "tests pass", False: "tests fail", None: "no tests ran"}[self.tests_passed]
        if self.tests_passed is False and self.failures:
            tests += f" ({self.failures} failing)"
        binary = [c.path for c in self.changes if c.binary]
        extra = f"; binary files {', '.join(binary)} cannot be applied" if binary else ""
        return f"attempt {self.number}: {tests}, {diff_stat(self.changes)}{extra}"


class Attempts:
    """``--attempts`` for :class:`~llm_coding_agent.CodingAgent` (a mixin; it uses the agent's
    ``config``, ``profile``, ``root``, ``approve``, ``execute_call`` and callbacks)."""

    def attempts_for(self, prompt: str) -> int:
        """How many attempts a request gets: ``config.attempts`` when set, else the profile's
        number when the project has tests, else 1."""
        if self.config.attempts is not None:
            return self.config.attempts
        if self.profile.attempts > 1 and project_has_tests(self.root, prompt):
            return self.profile.attempts
        return 1

    def run_attempts(self, prompt: str, count: int) -> AgentResult:
        """Carry out ``prompt`` in up to ``count`` scratch copies and apply the best change."""
        if self.approve is None:
            raise AgentStateError("attempts cannot pause for approval: give approve=True or an approver callable")
        tried: list[Attempt] = []
        for number in range(1, count + 1):
            self._notice(f"attempt {number} of {count}, in a scratch copy of the project")
            attempt = self._one_attempt(prompt, number)
            tried.append(attempt)
            self._notice(attempt.describe())
            outcome = attempt.result
            if outcome is not None and outcome.interrupted:
                break
            if attempt.candidate and attempt.tests_passed:
                break
            if outcome is not None and not attempt.changes and outcome.stop_reason == "done":
                break  # it answered without changing anything: nothing to choose by execution
        return self._apply_best(prompt, tried)

    # -- one attempt ------------------------------------------------------------------------------

    def _one_attempt(self, prompt: str, number: int) -> Attempt:
        try:
            scratch = create_scratch(self.root, name=f"attempt-{number}")
        except ScratchError as ex:
            raise AgentStateError(f"cannot make a scratch copy for the attempts: {ex}") from None
        attempt = Attempt(number, kind=scratch.kind)
        try:
            agent = self._attempt_agent(str(scratch.path), number)
            try:
                attempt.result = agent.run(prompt)
            except ModelError as ex:
                attempt.error = str(ex)
                return attempt
            if not attempt.result.interrupted:
                self._verify_attempt(agent, attempt, prompt)
            attempt.changes = scratch.changes()
        except ScratchError as ex:
            attempt.error = f"its copy could not be read: {ex}"
        finally:
            scratch.remove()
        return attempt

    def _attempt_agent(self, root: str, number: int):
        # The session's MCP tools come with its extra tools (served by its running servers).
        config = dataclasses.replace(
            self.config, root=root, attempts=1, undo=False, reviewer=None, plan=False, mcp_servers=False, mcp_config=[],
        )
        if config.max_tokens:  # the session's budget, not one per attempt
            used = (self.usage.input or 0) + (self.usage.output or 0)
            config.max_tokens = max(1, config.max_tokens - used)
        # The user's tools and the MCP servers' (each attempt makes its own todo list, skills,
        # delegate and create_tool).
        extra = list(self._extra_tools)  # type: ignore[attr-defined]
        agent = type(self)(
            model=self.model, approve=self._scratch_approver(), config=config,
            options=varied_options(self.model, self.options, number), tools=extra,
            on_text=None, on_tool=self.on_tool, on_tool_start=self.on_tool_start,
            on_notice=self.on_notice, db=self.db, allow_unsandboxed=self.allow_unsandboxed,
        )
        agent.notice_stops = self.notice_stops
        # One set of rules for the session and its attempts: an "always" answered in one attempt
        # holds in the next, and afterwards.
        agent.policy.rules = self.policy.rules
        agent.policy.allowed_tools = self.policy.allowed_tools
        agent.policy.read_only_tools = self.policy.read_only_tools
        return agent

    def _scratch_approver(self):
        parent = self.approve

        def approve(tool: llm.Tool, call: llm.ToolCall):
            if tool.name.startswith(CODING_TOOL_PREFIX) and short_tool_name(tool.name) in FILE_CHANGING_TOOLS:
                return True  # it lands in the scratch copy; the chosen change is approved when applied
            return True if parent is True else parent(tool, call)

        return approve

    def _verify_attempt(self, agent, attempt: Attempt, request: str) -> None:
        """The project's tests in the attempt's copy (through its approval), else its own last run."""
        attempt.tests_passed = attempt.result.tests_passed
        command = command_for_tests(agent.root, request)
        if command is None or agent._tool(_COMMAND_TOOL) is None:
            return
        call = llm.ToolCall(name=_COMMAND_TOOL, arguments={"command": command},
                            tool_call_id=f"llm-code-attempt-{attempt.number}-tests")
        try:
            tool_result = agent.execute_call(call)
        except llm.PauseChain:
            return
        if self.on_tool:
            self.on_tool(call, tool_result)
        passed = outcome_of_test_run(tool_result.output)
        if passed is None:
            return
        attempt.tests_passed, attempt.test_command = passed, command
        attempt.failures = 0 if passed else count_failures(tool_result.output)

    # -- choosing and applying --------------------------------------------------------------------

    def _apply_best(self, prompt: str, tried: list[Attempt]) -> AgentResult:
        candidates = [a for a in tried if a.candidate]
        best = min(candidates, key=Attempt.rank) if candidates else None
        shown = best or tried[-1]
        result = AgentResult(attempts=tried)
        if shown.result is not None:
            result.text = shown.result.text
            result.stop_reason = shown.result.stop_reason
            result.interrupted = shown.result.interrupted
            result.hit_limit = shown.result.hit_limit
        for attempt in tried:
            if attempt.result is not None:
                result.usage += attempt.result.usage
                self.usage += attempt.result.usage  # the session's totals and token budget
                result.model_calls += attempt.result.model_calls
        if best is None:
            if all(a.error for a in tried):
                raise ModelError(tried[-1].error)
            if self.on_text and result.text:
                self.on_text(result.text)
            if any(a.changes for a in tried):
                self._notice("no attempt's change can be applied; the project is unchanged")
            return result
        result.tests_passed = best.tests_passed
        if result.interrupted:
            return result
        if self.on_text and result.text:
            self.on_text(result.text)  # the chosen attempt's answer, once (theirs are not streamed)
        self._notice(f"applying attempt {best.number} of {len(tried)} ({diff_stat(best.changes)})")
        self._snapshot(prompt)
        best.applied = self.apply_changes(best.changes, result)
        files = ", ".join(c.path for c in best.changes)
        if best.applied:
            self._notes.append(
                f"[Note from the system: the request {prompt[:300]!r} was carried out in {len(tried)} "
                f"independent attempt(s) in scratch copies of the project; the change of attempt "
                f"{best.number} ({best.describe()}) was applied to the project ({files}). Its final "
                f"answer was: {result.text[:2000]}]"
            )
        else:
            self._notes.append(
                f"[Note from the system: the request {prompt[:300]!r} was tried in {len(tried)} scratch "
                f"copies, but the chosen change ({files}) was not applied: the project is unchanged.]"
            )
        return result

    def apply_changes(self, changes: list[FileChange], result: AgentResult) -> bool:
        """Write ``changes`` to the project, each through :meth:`execute_call` (approval as
        usual); all or nothing. Returns whether all of them were applied."""
        moved = [c.path for c in changes if _current_bytes(self.root / c.path) != c.before]
        if moved:
            self._notice(f"not applied: {', '.join(moved)} changed in the project while the attempts ran")
            return False
        done: list[FileChange] = []
        for index, change in enumerate(changes):
            call = _apply_call(change, index)
            try:
                tool_result = self.execute_call(call)
            except (llm.PauseChain, KeyboardInterrupt) as ex:
                self._restore(done)
                if isinstance(ex, KeyboardInterrupt):
                    result.interrupted = True
                    result.stop_reason = "interrupted"
                return False
            result.tool_calls.append((call, tool_result))
            if self.on_tool:
                self.on_tool(call, tool_result)
            done.append(change)
            if not _applied(self.root / change.path, change, tool_result.output):
                self._restore(done)
                self._notice("the change was not applied (all or nothing): the project is as it was")
                return False
        return True

    def _restore(self, changes: list[FileChange]) -> None:
        """Put back the files of ``changes`` as they were before (the user's own content)."""
        for change in changes:
            real = self.root / change.path
            if change.before is None:
                real.unlink(missing_ok=True)
            elif _current_bytes(real) != change.before:
                mode = real.stat().st_mode & 0o7777 if real.exists() else None
                atomic_write(real, change.before, mode)
            self.coding_tools._seen.pop(real.resolve(), None)


def _current_bytes(path) -> bytes | None:
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError:
        return None


def _apply_call(change: FileChange, index: int) -> llm.ToolCall:
    call_id = f"llm-code-apply-{index + 1}"
    if change.after is None:
        command = f"rm -- {shlex.quote(change.path)}"
        return llm.ToolCall(name=_COMMAND_TOOL, arguments={"command": command}, tool_call_id=call_id)
    arguments = {"path": change.path, "content": change.after.decode("utf-8")}
    return llm.ToolCall(name=_WRITE_TOOL, arguments=arguments, tool_call_id=call_id)


def _applied(path, change: FileChange, output: str) -> bool:
    if output.startswith(("Error:", "Cancelled")):
        return False
    return not path.exists() if change.after is None else path.is_file()
