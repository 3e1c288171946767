"""``CodingAgent``: the agent loop as a Python API. No terminal code lives here.

The loop is our own rather than ``conversation.chain()``: it needs per-response logging, pauses
that survive a process restart, a graceful round limit, interrupts that leave the history
consistent, and recovery from malformed or text-form tool calls. It still uses llm for everything
else: models, conversations, tool execution, ``CancelToolCall``/``PauseChain`` and the logs database.

Methods are small and meant to be overridden (mini-swe-agent style): subclass and replace
``decide``, ``execute_call`` or ``recover_text_calls`` to change one behaviour.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import llm
from llm.models import Prompt
from llm.parts import ToolCallPart

from .context import ContextBudget, context_window, mechanical_summary, truncate_results
from ..safety.approval import CODING_TOOL_PREFIX, ApprovalDecision, ApprovalPolicy, call_signature
from ..errors import CodingAgentError
from .logstore import log_response
from .mentions import attach_mentioned_files
from ..tools.paths import resolve_root
from .prompts import system_prompt
from ..safety.rules import CommandRules, Verdict
from ..tools.sandbox import SandboxUnavailable, bwrap_problem
from .textcalls import parse_text_tool_calls
from ..tools import FILE_CHANGING_TOOLS, CodingTools

__all__ = [
    "CodingAgent",
    "AgentResult",
    "TokenUsage",
    "ModelError",
    "AgentStateError",
    "Approver",
    "RepeatTracker",
]

#: ``approve=`` may be True, None (pause), or a callable ``(tool, tool_call) -> bool``.
Approver = Callable[[llm.Tool | None, llm.ToolCall], bool]

#: Characters of one model answer before it is cut off (runaway generation).
MAX_RESPONSE_CHARS = 60_000

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
    "tools (read_file, then edit_file or write_file) and verify it; if no change is needed, "
    "say so in one sentence.]"
)
#: A fenced code block of at least two lines.
_CODE_BLOCK = re.compile(r"```[^\n`]*\n(?:[^\n]*\n){2,}?\s*```")


def _changed_a_file(call: llm.ToolCall, result: llm.ToolResult) -> bool:
    return (
        _short_name(call.name) in FILE_CHANGING_TOOLS
        and not result.exception
        and not result.output.startswith(("Error:", "Cancelled", "Unchanged"))
    )


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
        if _changed_a_file(call, result):
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


class ModelError(CodingAgentError):
    """The model could not be reached or refused the request (network, key, API error)."""


class AgentStateError(CodingAgentError):
    """An API call that does not fit the agent's state (e.g. ``resume()`` when nothing is paused)."""


@dataclass
class TokenUsage:
    """Input and output tokens; ``None`` where the model reported nothing."""

    input: int | None = None
    output: int | None = None

    def add(self, input: int | None, output: int | None) -> None:
        if input is not None:
            self.input = (self.input or 0) + input
        if output is not None:
            self.output = (self.output or 0) + output

    def __iadd__(self, other: "TokenUsage") -> "TokenUsage":
        self.add(other.input, other.output)
        return self


@dataclass
class AgentResult:
    """The outcome of one ``run()`` or ``resume()``."""

    #: The model's final answer (the text of the last response).
    text: str = ""
    #: Every tool call executed (or declined) in this run, with its result.
    tool_calls: list[tuple[llm.ToolCall, llm.ToolResult]] = field(default_factory=list)
    #: The run stopped to wait for approval of ``pending_tool_calls``.
    paused: bool = False
    pending_tool_calls: list[llm.ToolCall] = field(default_factory=list)
    #: The run ended because ``chain_limit`` tool rounds were used.
    hit_limit: bool = False
    #: Ctrl-C interrupted the run; the history was closed consistently.
    interrupted: bool = False
    #: Why the run ended: "done", "paused", "limit", "interrupted", "repeated_failures" (the same
    #: failing call again and again), "repeated_calls" (the same call with the same result),
    #: "max_turns" or "max_tokens".
    stop_reason: str = "done"
    #: Tokens used by this run.
    usage: TokenUsage = field(default_factory=TokenUsage)
    #: Model responses in this run.
    model_calls: int = 0


class CodingAgent:
    """A coding agent for one project directory.

    ``approve`` governs mutating tools (``write_file``, ``edit_file``, ``execute_command`` and any
    extra tool): ``True`` approves everything, a callable ``(tool, tool_call) -> bool`` decides per
    call (raise ``llm.CancelToolCall("reason")`` to decline with a reason for the model), and
    ``None`` pauses the run until :meth:`resume`. Read-only tools never ask.
    """

    def __init__(
        self,
        model: str | llm.Model | None = None,
        root: str | os.PathLike = ".",
        approve: bool | Approver | None = None,
        chain_limit: int = 25,
        system: str | None = None,
        key: str | None = None,
        options: dict | None = None,
        disabled_tools: Iterable[str] = (),
        tools: Iterable[Any] = (),
        on_text: Callable[[str], None] | None = None,
        on_tool: Callable[[llm.ToolCall, llm.ToolResult], None] | None = None,
        conversation: llm.Conversation | None = None,
        db: Any = None,
        *,
        allow: Iterable[str] = (),
        deny: Iterable[str] = (),
        sandbox: str = "auto",
        network: bool = False,
        env_allow: Iterable[str] = (),
        allow_unsandboxed: bool | Callable[[str], bool] = False,
        text_tool_calls: bool = True,
        undo: bool = True,
        on_notice: Callable[[str], None] | None = None,
        context_window: int | None = None,
        max_tokens: int | None = None,
        max_turns: int | None = None,
        attach_files: bool = True,
        nudge_unapplied: bool = False,
    ):
        self.root = resolve_root(root)
        self.model = _get_model(model if model is not None else getattr(conversation, "model", None))
        self.approve = approve
        self.chain_limit = chain_limit
        self.extra_system = system
        self.key = key
        self.options = _checked_options(self.model, options)
        self.on_text = on_text
        self.on_tool = on_tool
        self.on_notice = on_notice
        self.db = db
        self.text_tool_calls = text_tool_calls
        #: Send the files a request names along with it (see :mod:`llm_coding_agent.agent.mentions`).
        self.attach_files = attach_files
        #: When a run ends with code in the answer but no file changed, ask the model once to
        #: apply it (for headless runs, where nobody can say "now apply that").
        self.nudge_unapplied = nudge_unapplied
        self.allow_unsandboxed = allow_unsandboxed
        self.coding_tools = CodingTools(
            str(self.root), sandbox=sandbox, network=network, env_allow=list(env_allow)
        )
        self.policy = ApprovalPolicy(
            root=self.root,
            rules=CommandRules(allow=list(allow), deny=list(deny)),
            yolo=approve is True,
        )
        disabled = {_short_name(n) for n in disabled_tools}
        self.tools: list[llm.Tool] = [
            t for t in self.coding_tools.tools() if _short_name(t.name) not in disabled
        ]
        self.tools.extend(_wrap_tools(tools))
        self.conversation = conversation or self.model.conversation(tools=self.tools)
        self.conversation.tools = self.tools
        self.usage = TokenUsage()
        self.max_tokens = max_tokens
        self.max_turns = max_turns
        self._window_override = context_window
        self.context = ContextBudget(
            window=_window_for(self.model, context_window), overhead=_tools_overhead(self.tools)
        )
        self._history_override: list | None = None
        self._budget_warned = False
        self.undo_history = None
        if undo:
            from ..safety.undo import UndoHistory

            self.undo_history = UndoHistory(self.root)
        self._pending: list[llm.ToolCall] = []
        self._unsent_results: list[llm.ToolResult] = []
        self._notes: list[str] = []
        self._sandbox_asked = False
        self._log_store = None

    # -- construction from the logs ---------------------------------------------------------------

    @classmethod
    def load(cls, conversation_id: str | None, db: Any = None, **kwargs) -> "CodingAgent":
        """Continue a logged conversation (the latest when ``conversation_id`` is None).

        A conversation that ended paused (or crashed) with unanswered tool calls comes back paused:
        call :meth:`resume` to approve or decline them. ``root`` defaults to the logged one.
        """
        from llm.cli import load_conversation
        from llm.models import _trailing_pending_tool_calls

        import click

        path = _db_path(db)
        try:
            conversation = load_conversation(conversation_id, database=path)
        except click.ClickException as ex:
            raise AgentStateError(ex.message) from None
        if conversation is None:
            raise AgentStateError("there is no logged conversation to continue")
        if "root" not in kwargs:
            logged_root = _logged_root(conversation)
            if logged_root:
                kwargs["root"] = logged_root
        kwargs.setdefault("model", conversation.model)
        agent = cls(conversation=conversation, db=db, **kwargs)
        pending = _trailing_pending_tool_calls(conversation.loaded_messages or [])
        if pending:
            agent._pending = pending
        return agent

    @property
    def conversation_id(self) -> str:
        return self.conversation.id

    @property
    def paused(self) -> bool:
        return bool(self._pending)

    @property
    def pending_tool_calls(self) -> list[llm.ToolCall]:
        return list(self._pending)

    def set_model(self, model: str | llm.Model) -> None:
        """Switch models; the conversation history is kept."""
        self.model = _get_model(model)
        self.context.window = _window_for(self.model, self._window_override)
        self.context.reserve = min(4096, self.context.window // 4)
        try:
            self.options = _checked_options(self.model, self.options)
        except ModelError:
            self._notice(f"model options {sorted(self.options)} do not apply to {self.model.model_id}; dropped")
            self.options = {}
        self.conversation.model = self.model

    # -- the loop ---------------------------------------------------------------------------------

    def run(self, prompt: str) -> AgentResult:
        """Send ``prompt`` and work until the model answers without tools, pauses, or a limit."""
        if self._pending:
            raise AgentStateError(
                "the agent is paused waiting for approval; call resume() first"
            )
        if not isinstance(prompt, str) or not prompt.strip():
            raise AgentStateError("prompt must be a non-empty string")
        self._snapshot(prompt)
        if self.attach_files:
            prompt = self._attach_mentioned(prompt) + prompt
        if self._notes:
            prompt = "\n".join(self._notes) + "\n\n" + prompt
            self._notes = []
        result = AgentResult()
        if self._over_token_budget(result):
            return result
        results, self._unsent_results = self._unsent_results, []
        first = not self.conversation.responses and not self.conversation.loaded_messages
        response = self._prompt(
            prompt,
            system=system_prompt(self.root, self.extra_system) if first else None,
            tool_results=results,
        )
        return self._drive(response, result)

    def resume(self, approve: bool | Iterable[str] | None = True) -> AgentResult:
        """Continue a paused run: ``True`` approves the pending calls, ``False`` declines them all,
        a set of tool call ids approves just those (the rest are declined)."""
        if not self._pending:
            raise AgentStateError("nothing to resume: the agent is not paused")
        calls, self._pending = self._pending, []
        earlier, self._unsent_results = self._unsent_results, []
        if approve is True or approve is None:
            approved = {c.tool_call_id for c in calls}
        elif approve is False:
            approved = set()
        else:
            approved = set(approve)
        result = AgentResult()
        results = earlier + self._execute_all(calls, result, preapproved=approved)
        if self._stopped_mid_batch(result, results):
            return result
        response = self._prompt(tool_results=results)
        return self._drive(response, result)

    def discard_pending(self, reason: str = "the session was continued without running them") -> None:
        """Answer the pending calls as declined without asking the model anything yet; the next
        ``run()`` sends those answers along with its prompt."""
        self._unsent_results += [
            self._cancelled(call, reason) for call in self._pending
        ]
        self._pending = []

    def _drive(self, response: llm.Response, result: AgentResult) -> AgentResult:
        rounds = 0
        repeats = RepeatTracker()
        nudged = False
        while True:
            self._consume(response, result)
            if result.interrupted:
                result.stop_reason = "interrupted"
                return result
            calls = response.tool_calls()
            if not calls and self._unapplied_code(result, nudged):
                nudged = True
                self._notice("the answer shows code but no file was changed; asking the model to apply it")
                response = self._prompt(UNAPPLIED_CODE_NUDGE)
                continue
            if not calls:
                result.stop_reason = "done"
                return result
            if self.approve is None:
                waiting = [c for c in calls if self.decide(c).verdict is Verdict.ASK]
                if waiting:
                    self._pending = list(calls)
                    result.paused = True
                    result.pending_tool_calls = list(calls)
                    result.stop_reason = "paused"
                    return result
            results = self._execute_all(calls, result, repeats=repeats)
            if self._stopped_mid_batch(result, results):
                return result
            rounds += 1
            stop = self._stop_reason(rounds, repeats, result)
            if stop:
                # Results are sent with the next prompt, so the history never holds a call
                # without its result.
                self._unsent_results = results
                result.stop_reason = stop
                result.hit_limit = stop == "limit"
                return result
            response = self._prompt(tool_results=results)

    def _unapplied_code(self, result: AgentResult, nudged: bool) -> bool:
        """The run is ending with code in the answer although no file was changed."""
        if not self.nudge_unapplied or nudged or result.interrupted:
            return False
        if any(_changed_a_file(call, tool_result) for call, tool_result in result.tool_calls):
            return False
        return bool(_CODE_BLOCK.search(result.text))

    def _stop_reason(self, rounds: int, repeats: RepeatTracker, result: AgentResult) -> str | None:
        """Why the loop must stop before the next model call, if it must."""
        if repeats.stop_reason == "repeated_failures":
            self._notice("stopped: the model repeated the same failing call")
            return repeats.stop_reason
        if repeats.stop_reason == "repeated_calls":
            self._notice("stopped: the model repeated the same call with the same result")
            return repeats.stop_reason
        if rounds >= self.chain_limit:
            return "limit"
        if self.max_turns and result.model_calls >= self.max_turns:
            self._notice(f"stopped: the turn budget ({self.max_turns} model calls per task) is used up")
            return "max_turns"
        if self._over_token_budget(result):
            return result.stop_reason
        return None

    def _over_token_budget(self, result: AgentResult) -> bool:
        if not self.max_tokens:
            return False
        used = (self.usage.input or 0) + (self.usage.output or 0)
        if used >= self.max_tokens:
            self._notice(f"stopped: the token budget ({used:,} of {self.max_tokens:,} tokens) is used up")
            result.stop_reason = "max_tokens"
            return True
        if used >= 0.8 * self.max_tokens and not self._budget_warned:
            self._budget_warned = True
            self._notice(f"warning: {used:,} of the {self.max_tokens:,}-token budget used (80%)")
        return False

    # -- context ----------------------------------------------------------------------------------

    def history(self) -> list:
        """The messages the next request builds on (the compacted form, once compacted)."""
        if self._history_override is not None:
            return list(self._history_override)
        conversation = self.conversation
        if conversation.responses:
            last = conversation.responses[-1]
            return list(last.prompt.messages) + list(last._messages_now())
        return list(conversation.loaded_messages or [])

    def context_tokens(self) -> tuple[int, str]:
        """Tokens the current history takes: ("reported" by the model or "estimated")."""
        count, how = self.context.last_request
        if self._history_override is not None or not count:
            return self.context.tokens(self.history()), "estimated"
        return count, how

    def compact(self, focus: str | None = None):
        """Compact the history now (``!compact``); returns the CompactionReport (None if empty)."""
        history = self.history()
        if len(history) < 3:
            return None
        compacted, report = self.context.compact(history, 0, self._summarize, force=True, focus=focus)
        self._history_override = compacted
        return report

    def _prompt(self, prompt: str | None = None, system: str | None = None, tool_results=None):
        """Send the next request, compacting the history first when it would not fit."""
        history = self.history()
        incoming = (len(prompt or "") + len(system or "")) // 4
        messages = None
        if history:
            fitted, report = self.context.compact(history, incoming, self._summarize)
            if report is not None:
                self._notice(report.describe())
            if report is not None or self._history_override is not None:
                messages = fitted
            history = fitted
        self._history_override = None
        if tool_results:
            room = self.context.limit - self.context.tokens(history) - incoming
            if truncate_results(tool_results, max(room, 500)):
                self._notice("tool output shortened to fit the context window")
        return self.conversation.prompt(
            prompt,
            system=system,
            tool_results=tool_results or None,
            messages=messages,
            tools=self.tools,
            key=self.key,
            options=self.options,
        )

    def _summarize(self, text: str) -> str:
        """Ask the model for a summary (no tools); a mechanical one if the model fails."""
        try:
            response = self.model.prompt(text, key=self.key, stream=False)
            summary = response.text()
            usage = response.usage()
            self.usage.add(usage.input, usage.output)
            if summary.strip():
                return summary
        except Exception as ex:  # a summary must never break the session
            self._notice(f"the model could not summarise ({ex}); using a mechanical summary")
        return mechanical_summary(text)

    def _stopped_mid_batch(self, result: AgentResult, results: list[llm.ToolResult]) -> bool:
        """After an interrupt or a PauseChain inside a batch: keep the results for the next prompt."""
        if not (result.interrupted or result.paused):
            return False
        self._unsent_results = results
        result.stop_reason = "interrupted" if result.interrupted else "paused"
        result.pending_tool_calls = list(self._pending)
        return True

    def _consume(self, response: llm.Response, result: AgentResult) -> None:
        """Stream one response to ``on_text``, close it cleanly whatever happens, and log it."""
        streamed = 0
        try:
            for chunk in response:
                if chunk and self.on_text:
                    self.on_text(chunk)
                streamed += len(chunk or "")
                if streamed > MAX_RESPONSE_CHARS:
                    # Small local models sometimes repeat themselves until the context is full;
                    # cut such an answer off instead of waiting minutes for it.
                    _close_interrupted(response, "\n[answer cut off: it exceeded the length limit]")
                    self._notice("the model's answer ran past the length limit and was cut off")
                    break
        except KeyboardInterrupt:
            _close_interrupted(response)
            result.interrupted = True
        except json.JSONDecodeError:
            # The OpenAI plugin raises when a model emits malformed JSON arguments; the stream
            # events still hold the call, so close the response and let validation answer it.
            _close_response(response)
            for call in _stream_tool_calls(response):
                response.add_tool_call(call)
        except Exception as ex:
            raise ModelError(_describe_model_error(self.model, ex)) from ex
        result.model_calls += 1
        usage = response.usage()
        self.context.observe(list(response.prompt.messages), usage.input)
        result.usage.add(usage.input, usage.output)
        self.usage.add(usage.input, usage.output)
        result.text = response.text()
        if not result.interrupted and not response.tool_calls() and self.text_tool_calls:
            for name, arguments in self.recover_text_calls(result.text):
                response.add_tool_call(llm.ToolCall(name=name, arguments=arguments))
        self._log(response)

    def recover_text_calls(self, text: str) -> list[tuple[str, dict]]:
        """Tool calls the model wrote as text (see :mod:`llm_coding_agent.agent.textcalls`)."""
        return parse_text_tool_calls(text, self._resolve_tool_name)

    def _attach_mentioned(self, prompt: str) -> str:
        """The numbered contents of the project files ``prompt`` names ("" when none)."""
        if self._tool(f"{CODING_TOOL_PREFIX}read_file") is None:
            return ""
        tools = self.coding_tools

        def size_to_attach(path: str) -> int | None:
            state = tools._file_state(path)
            if state is None or tools._seen_unchanged(*state):
                return None  # not a file in the project, or the model has its content already
            return state[1].st_size

        attached = attach_mentioned_files(
            prompt,
            read=lambda path, offset, limit: tools.read_file(path, offset, limit),
            size_to_attach=size_to_attach,
            # About a quarter of the window (4 characters per token).
            max_chars=min(60_000, self.context.window),
        )
        if attached.files:
            self._notice("attached " + ", ".join(attached.files) + " (named in the request)")
        if attached.skipped:
            self._notice("not attached (too large): " + ", ".join(attached.skipped))
        return attached.text

    # -- tool execution ---------------------------------------------------------------------------

    def decide(self, call: llm.ToolCall) -> ApprovalDecision:
        """The approval policy's verdict for ``call``. Calls that cannot run (unknown tool, bad
        arguments) are allowed through: they only produce an error for the model."""
        name = self._resolve_tool_name(call.name)
        tool = self._tool(name) if name else None
        if tool is None or _argument_problem(tool, call.arguments):
            return ApprovalDecision(Verdict.ALLOW, "nothing will run")
        decision = self.policy.decide(tool.name, call.arguments)
        if decision.verdict is Verdict.ASK and self._bound_to_fail(tool, call):
            return ApprovalDecision(Verdict.ALLOW, "nothing will change")
        return decision

    def _bound_to_fail(self, tool: llm.Tool, call: llm.ToolCall) -> str | None:
        """The error a file change will certainly return (missing file, no match, ...), if any."""
        if not tool.name.startswith(CODING_TOOL_PREFIX):
            return None
        return self.coding_tools._plan(_short_name(tool.name), call.arguments)[1]

    def _execute_all(
        self,
        calls: list[llm.ToolCall],
        result: AgentResult,
        preapproved: set[str] | None = None,
        repeats: RepeatTracker | None = None,
    ) -> list[llm.ToolResult]:
        results: list[llm.ToolResult] = []
        for index, call in enumerate(calls):
            try:
                tool_result = self.execute_call(call, preapproved)
            except llm.PauseChain:
                # An approver or a tool asked to stop here: this call and the rest wait for resume().
                result.paused = True
                self._pending = list(calls[index:])
                return results
            except KeyboardInterrupt:
                result.interrupted = True
                for rest in calls[index:]:
                    results.append(
                        llm.ToolResult(
                            name=rest.name,
                            output="Error: interrupted by the user before this call finished",
                            tool_call_id=rest.tool_call_id,
                        )
                    )
                return results
            note = repeats.observe(call, tool_result) if repeats is not None else None
            if note:
                tool_result.output += note
            results.append(tool_result)
            result.tool_calls.append((call, tool_result))
            if self.on_tool:
                self.on_tool(call, tool_result)
        return results

    def execute_call(self, call: llm.ToolCall, preapproved: set[str] | None = None) -> llm.ToolResult:
        """Validate, approve and run one tool call; always returns a result for the model."""
        name = self._resolve_tool_name(call.name)
        tool = self._tool(name) if name else None
        if tool is None:
            return self._error(call, self._unknown_tool_message(call.name))
        problem = _argument_problem(tool, call.arguments)
        if problem:
            return self._error(call, problem)
        resolved = llm.ToolCall(name=tool.name, arguments=call.arguments, tool_call_id=call.tool_call_id)
        decision = self.policy.decide(tool.name, call.arguments)
        if decision.verdict is Verdict.DENY:
            return self._cancelled(call, f"refused by a deny rule: {decision.reason}")
        if decision.verdict is Verdict.ASK:
            error = self._bound_to_fail(tool, call)
            if error:
                # Nothing would change (missing file, no match, outside the root): no question.
                return self._error(call, error)
        if decision.verdict is Verdict.ASK:
            if preapproved is not None:
                if call.tool_call_id not in preapproved:
                    return self._cancelled(call, "the user declined this call")
            else:
                try:
                    if not self._ask(tool, resolved):
                        return self._cancelled(call, "the user declined this call")
                except llm.CancelToolCall as ex:
                    return self._cancelled(call, f"the user declined this call: {ex}")
        if tool.name == f"{CODING_TOOL_PREFIX}execute_command" and not self._sandbox_ready():
            return self._error(
                call,
                f"commands must run in a sandbox but {bwrap_problem()}; the user did not allow "
                "running unsandboxed. Use the file tools instead, or ask the user.",
            )
        tool_result = _execute_with_llm(self.model, tool, resolved)
        tool_result.name = call.name
        return tool_result

    def _ask(self, tool: llm.Tool, call: llm.ToolCall) -> bool:
        if self.approve is True:
            return True
        if callable(self.approve):
            return bool(self.approve(tool, call))
        return False

    def _sandbox_ready(self) -> bool:
        try:
            self.coding_tools._sandbox()
            return True
        except SandboxUnavailable as ex:
            if self._sandbox_asked or self.allow_unsandboxed is False:
                return False
            self._sandbox_asked = True
            allowed = (
                self.allow_unsandboxed(str(ex))
                if callable(self.allow_unsandboxed)
                else bool(self.allow_unsandboxed)
            )
            self.coding_tools._allow_unsandboxed(allowed)
            return allowed

    def _tool(self, name: str) -> llm.Tool | None:
        return next((t for t in self.tools if t.name == name), None)

    def _resolve_tool_name(self, name: Any) -> str | None:
        """The real tool a model meant: exact name, or the short form weak models often use."""
        if not isinstance(name, str):
            return None
        names = [t.name for t in self.tools]
        if name in names:
            return name
        wanted = name.strip().lower()
        for candidate in names:
            if candidate.lower() == wanted or _short_name(candidate).lower() == wanted:
                return candidate
        return None

    def _unknown_tool_message(self, name: Any) -> str:
        return (
            f"Error: there is no tool named {name!r}. Available tools: "
            + ", ".join(t.name for t in self.tools)
            + '. Call one of them with its arguments, e.g. CodingTools_read_file with {"path": "README.md"}.'
        )

    @staticmethod
    def _error(call: llm.ToolCall, message: str) -> llm.ToolResult:
        if not message.startswith("Error:"):
            message = "Error: " + message
        return llm.ToolResult(name=call.name, output=message, tool_call_id=call.tool_call_id)

    @staticmethod
    def _cancelled(call: llm.ToolCall, reason: str) -> llm.ToolResult:
        return llm.ToolResult(
            name=call.name,
            output=f"Cancelled: {reason}. Do not retry the same call; adjust your plan or ask the user.",
            tool_call_id=call.tool_call_id,
            exception=llm.CancelToolCall(reason),
        )

    # -- undo, logging, notices -------------------------------------------------------------------

    def undo(self):
        """Restore the project to how it was before the last turn; returns an ``UndoResult``.

        The model is told what was undone with the next prompt.
        """
        if self.undo_history is None:
            raise AgentStateError("undo is off for this agent")
        outcome = self.undo_history.undo()
        self._notes.append(
            "[Note from the system: the user undid your previous turn. " + outcome.summary()
            + " Files are back as they were before that turn; re-read before editing.]"
        )
        # Our record of what the model last saw is void now.
        self.coding_tools._seen.clear()
        return outcome

    def _snapshot(self, label: str) -> None:
        if self.undo_history is None:
            return
        try:
            self.undo_history.snapshot(label[:80])
        except CodingAgentError as ex:
            self._notice(f"undo unavailable for this turn: {ex}")

    def _log(self, response: llm.Response) -> None:
        if self.db is not None:
            self._log_store = log_response(response, self.db, self._log_store)

    def _notice(self, message: str) -> None:
        if self.on_notice:
            self.on_notice(message)


# -- helpers ------------------------------------------------------------------------------------


def _get_model(model: str | llm.Model | None) -> llm.Model:
    if isinstance(model, llm.Model) or (model is not None and hasattr(model, "conversation")):
        return model  # type: ignore[return-value]
    try:
        return llm.get_model(model) if model else llm.get_model(llm.get_default_model())
    except llm.UnknownModelError as ex:
        raise ModelError(f"unknown model: {ex}") from None


def _window_for(model: llm.Model, override: int | None) -> int:
    return context_window(getattr(model, "model_id", "") or "", override)


def _tools_overhead(tools: list[llm.Tool]) -> int:
    """Tokens the tool schemas add to every request (estimated)."""
    return sum(len(t.name) + len(t.description or "") + len(json.dumps(t.input_schema)) for t in tools) // 4


def _checked_options(model: llm.Model, options: dict | None) -> dict:
    """Options validated by the model's own Options class (a typo fails now, not mid-run)."""
    options = dict(options or {})
    try:
        model.Options(**options)
    except Exception as ex:  # pydantic's ValidationError, or a plugin's own
        message = str(ex).splitlines()
        raise ModelError(
            f"invalid options for {model.model_id}: {', '.join(options) or '(none)'}"
            f" ({message[0] if message else type(ex).__name__}; see `llm models --options`)"
        ) from None
    return options


def _short_name(name: str) -> str:
    return name[len(CODING_TOOL_PREFIX):] if name.startswith(CODING_TOOL_PREFIX) else name


def _wrap_tools(tools: Iterable[Any]) -> list[llm.Tool]:
    wrapped: list[llm.Tool] = []
    for tool in tools:
        if isinstance(tool, llm.Tool):
            wrapped.append(tool)
        elif isinstance(tool, llm.Toolbox):
            wrapped.extend(tool.tools())
        elif isinstance(tool, type) and issubclass(tool, llm.Toolbox):
            wrapped.extend(tool().tools())
        elif callable(tool):
            wrapped.append(llm.Tool.function(tool))
        else:
            raise TypeError(f"not a tool: {tool!r}")
    return wrapped


_JSON_TYPES = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
}


def _call_shape(tool: llm.Tool) -> str:
    props = tool.input_schema.get("properties", {})
    required = set(tool.input_schema.get("required", []))
    fields = []
    for name, spec in props.items():
        kind = spec.get("type") or "/".join(s.get("type", "?") for s in spec.get("anyOf", []))
        fields.append(f'"{name}": <{kind}{"" if name in required else ", optional"}>')
    return f"{tool.name} with arguments {{{', '.join(fields)}}}"


def _argument_problem(tool: llm.Tool, arguments: Any) -> str | None:
    """Why ``arguments`` cannot be passed to ``tool`` (None when they can)."""
    shape = _call_shape(tool)
    if not isinstance(arguments, dict):
        return f"arguments must be a JSON object. Call {shape}"
    if "_raw" in arguments and len(arguments) == 1:
        raw = str(arguments["_raw"])[:200]
        return f"the arguments were not valid JSON ({raw!r}). Call {shape}"
    props = tool.input_schema.get("properties", {})
    required = tool.input_schema.get("required", [])
    missing = [r for r in required if r not in arguments]
    if missing:
        return f"missing required argument(s): {', '.join(missing)}. Call {shape}"
    unknown = [k for k in arguments if k not in props]
    if unknown and props:
        return f"unknown argument(s): {', '.join(unknown)}. Call {shape}"
    for name, value in arguments.items():
        spec = props.get(name, {})
        kinds = [spec.get("type")] if spec.get("type") else [s.get("type") for s in spec.get("anyOf", [])]
        kinds = [k for k in kinds if k]
        if not kinds or value is None and "null" in kinds:
            continue
        if value is None:
            return f"argument {name!r} must not be null. Call {shape}"
        ok = any(
            isinstance(value, _JSON_TYPES[k]) and not (k in ("integer", "number") and isinstance(value, bool))
            for k in kinds
            if k in _JSON_TYPES
        )
        # Numbers sent as strings ("10") are common and harmless: the tools coerce them.
        if not ok and not (isinstance(value, str) and kinds[0] in ("integer", "number", "boolean")):
            return f"argument {name!r} must be {'/'.join(kinds)}, got {type(value).__name__}. Call {shape}"
    return None


def _execute_with_llm(model: llm.Model, tool: llm.Tool, call: llm.ToolCall) -> llm.ToolResult:
    """Run one call through llm's own executor (ToolOutput, exceptions → ``Error:``, PauseChain).

    The carrier response is never sent to the model: it only gives llm's executor its context.
    """
    carrier = llm.Response(Prompt("", model, tools=[tool]), model, stream=False)
    return carrier.execute_tool_calls(tool_calls_list=[call])[0]


def _close_response(response: llm.Response) -> None:
    # llm has no public way to finish a response whose stream ended early; these are the same
    # steps Response.__iter__ takes at the end of a stream.
    if response._done:
        return
    response._done = True
    if response.conversation is not None:
        response.conversation._record_response(response)


def _close_interrupted(response: llm.Response, note: str = "\n[interrupted by the user]") -> None:
    """Keep the text streamed so far; drop half-received tool calls (they never ran)."""
    from llm.parts import StreamEvent

    response._stream_events = [e for e in response._stream_events if e.type in ("text", "reasoning")]
    response._tool_calls = []
    response._chunks.append(note)
    response._stream_events.append(StreamEvent(type="text", chunk=note))
    response._stream_events[-1].part_index = max(
        (e.part_index for e in response._stream_events[:-1] if e.part_index is not None), default=0
    )
    _close_response(response)


def _stream_tool_calls(response: llm.Response) -> list[llm.ToolCall]:
    known = {c.tool_call_id for c in response._tool_calls}
    calls = []
    for message in response._messages_now():
        for part in message.parts:
            if isinstance(part, ToolCallPart) and not part.server_executed and part.tool_call_id not in known:
                calls.append(
                    llm.ToolCall(name=part.name, arguments=part.arguments, tool_call_id=part.tool_call_id)
                )
    return calls


def _describe_model_error(model: llm.Model, ex: Exception) -> str:
    text = str(ex) or type(ex).__name__
    if isinstance(ex, llm.NeedsKeyException) or "api key" in text.lower() or "api_key" in text.lower():
        key_name = getattr(model, "needs_key", None) or "<provider>"
        return f"{model.model_id} needs an API key: run `llm keys set {key_name}` ({text})"
    return f"{model.model_id} failed: {text}"


def _db_path(db: Any) -> str | None:
    if db is None:
        return None
    if isinstance(db, (str, os.PathLike)):
        return os.fspath(db)
    rows = db.execute("PRAGMA database_list").fetchall()
    return rows[0][2] if rows else None


def logged_root(conversation_id: str | None, db: Any = None) -> str | None:
    """The project root a logged conversation worked in (None if unknown)."""
    from llm.cli import load_conversation

    import click

    try:
        conversation = load_conversation(conversation_id, database=_db_path(db))
    except click.ClickException:
        return None
    return _logged_root(conversation) if conversation else None


_ROOT_SPEC = re.compile(r"^CodingTools\((.*)\)$", re.DOTALL)


def _logged_root(conversation) -> str | None:
    for spec in conversation.loaded_tools or []:
        match = _ROOT_SPEC.match(spec)
        if match:
            try:
                root = json.loads(match.group(1)).get("root")
            except (ValueError, AttributeError):
                continue
            if root and Path(root).is_dir():
                return root
    return None
