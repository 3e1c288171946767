"""``CodingAgent``: the agent loop as a Python API. No terminal code lives here.

The loop is our own rather than ``conversation.chain()``: it needs per-response logging, pauses
that survive a process restart, a graceful round limit, interrupts that leave the history
consistent, and recovery from malformed or text-form tool calls. It still uses llm for everything
else: models, conversations, tool execution, ``CancelToolCall``/``PauseChain`` and the logs database.

One run, in the methods a subclass can override (mini-swe-agent style)::

    run(prompt) -> prepare_prompt -> send -> [consume -> step]* -> AgentResult
    step: no calls -> finish | calls -> (pause?) execute_all -> stop_reason? -> send results

Per-call work (validation, ``decide``, ``ask``, ``execute_call``) is in :mod:`.calls`; plan mode
and the todo list in :mod:`.planning`; the guards against loops and unapplied code in :mod:`.guards`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import llm

from ..config import AgentConfig
from ..safety.approval import ApprovalPolicy
from ..safety.rules import CommandRules, Verdict
from ..tools import CodingTools, short_tool_name
from ..tools.paths import resolve_root
from ..tools.todo import TODO_TOOL
from .attempts import Attempts
from .autonomous import settle_completed_calls
from .calls import ToolCalls, wrap_tools
from .context import ContextBudget, tools_overhead, truncate_results, window_for
from .history import HistoryAndUndo
from .hooked import Hooked
from .guards import ECHO_NUDGE, RepeatTracker, echoed_answer_replacement, echoes_instructions
from .logstore import conversation_root, db_path, log_response, logged_root
from .mcp_servers import McpTools
from .mentions import MentionedFiles
from .planning import PlanApprover, Planning
from .profiles import STEP_HINTS, described_tools, next_step_hint, profile_for
from .prompts import system_prompt
from .shown_code import ShownCode
from .responses import (
    capped_output, checked_options, close_interrupted, close_response, describe_model_error, get_model, stream_tool_calls,
)
from .results import AgentResult, AgentStateError, ModelError, TokenUsage
from .reviewer import ReviewedCalls
from .subagents import DELEGATE_TOOL, Delegation, latest_main_conversation
from .skills import ACTIVATE_SKILL, AgentSkills
from .textcalls import parse_text_tool_calls
from .verify import VerifyWithTests, last_test_outcome
from .written_tools import WrittenTools

__all__ = [
    "CodingAgent",
    "AgentResult",
    "TokenUsage",
    "ModelError",
    "AgentStateError",
    "Approver",
    "RepeatTracker",
    "logged_root",
]

#: ``approve=`` may be True, None (pause), or a callable ``(tool, tool_call) -> bool``
#: (or :class:`~.calls.EditedContent` for a file change the user edited).
Approver = Callable[[llm.Tool | None, llm.ToolCall], Any]

#: Characters of one model answer before it is cut off (runaway generation).
MAX_RESPONSE_CHARS = 60_000


@dataclass
class RunState:
    """What one ``run()``/``resume()`` keeps between rounds."""

    rounds: int = 0
    repeats: RepeatTracker = field(default_factory=RepeatTracker)
    nudged: bool = False
    suggested: set = field(default_factory=set)
    sent: list = field(default_factory=list)  # what finish() sent back, for the echo check
    echo_nudged: bool = False
    request: str = ""
    test_checks: int = 0
    plan_nudged: bool = False
    stop_hook_rounds: int = 0


class CodingAgent(
    Delegation, ReviewedCalls, ToolCalls, VerifyWithTests, AgentSkills, Planning, HistoryAndUndo, Hooked,
    WrittenTools, McpTools, Attempts, ShownCode, MentionedFiles,
):
    """A coding agent for one project directory.

    ``approve`` governs mutating tools (``write_file``, ``edit_file``, ``execute_command`` and any
    extra tool): ``True`` approves everything, a callable ``(tool, tool_call) -> bool`` decides per
    call (raise ``llm.CancelToolCall("reason")`` to decline with a reason for the model; for a
    file change, return :class:`~.calls.EditedContent` to approve it with the user's version of
    the file), and ``None`` pauses the run until :meth:`resume`. Read-only tools never ask.

    Callbacks (all optional): ``on_text(chunk)`` for each piece of the model's answer as it
    streams; ``on_tool_start(call)`` just before a tool runs (after approval; calls refused,
    declined or invalid never start); ``on_tool(call, result)`` once a call has its result (run
    or not); ``on_notice(message)`` for the agent's own remarks (compaction, budgets, stops);
    ``on_todos(todo_list)`` when the todo list changes; ``on_subagent(event)`` for the progress of
    a sub-agent the ``delegate`` tool started (:mod:`.subagents`). ``plan=True`` starts in plan mode, where
    ``plan_approver(plan)`` answers the plan (without one the run pauses on it; see :mod:`.planning`).
    ``skills`` are the skills offered to the model (default: built-in, the user's, and a trusted
    project's; ``False``: none; see :mod:`.skills`).

    Options come from ``config`` (an :class:`~llm_coding_agent.config.AgentConfig`) and from
    keyword arguments named after its fields (``sandbox="off"``, ``max_turns=10``, ...), which
    win over ``config``; the positional ones are those of llm-coding-agent 0.1a0.
    MCP servers (``mcp_config=["servers.json"]``, ``.mcp.json``) start with the agent: end with
    :meth:`close`, or use ``with CodingAgent(...) as agent:`` (see :mod:`.mcp_servers`).
    """

    def __init__(
        self,
        model: str | llm.Model | None = None,
        root: str | os.PathLike | None = None,
        approve: bool | Approver | None = None,
        chain_limit: int | None = None,
        system: str | None = None,
        key: str | None = None,
        options: dict | None = None,
        disabled_tools: Iterable[str] | None = None,
        on_text: Callable[[str], None] | None = None,
        on_tool: Callable[[llm.ToolCall, llm.ToolResult], None] | None = None,
        conversation: llm.Conversation | None = None,
        db: Any = None,
        *,
        config: AgentConfig | None = None,
        tools: Iterable[Any] = (),
        on_notice: Callable[[str], None] | None = None,
        on_tool_start: Callable[[llm.ToolCall], None] | None = None,
        allow_unsandboxed: bool | Callable[[str], bool] = False,
        plan_approver: PlanApprover | None = None,
        on_todos: Callable[[Any], None] | None = None,
        on_subagent: Callable[[Any], None] | None = None,
        skills: Any = None,
        **overrides: Any,
    ):
        given = dict(chain_limit=chain_limit, system=system, key=key, options=options, **overrides)
        given["disabled_tools"] = list(disabled_tools) if disabled_tools is not None else None
        given["root"] = os.fspath(root) if root is not None else None
        try:
            self.config: AgentConfig = (config or AgentConfig()).layered(given)
        except TypeError as ex:
            raise TypeError(f"CodingAgent() got an unexpected keyword argument: {ex}") from None
        c = self.config
        self.root = resolve_root(c.root or ".")
        self.model = get_model(model or c.model or getattr(conversation, "model", None))
        self.approve = approve
        self.options = checked_options(self.model, c.options)
        self.on_text = on_text
        self.on_tool = on_tool
        self.on_tool_start = on_tool_start
        self.on_notice = on_notice
        #: Whether a stop (a repeated call, a budget) is also told through ``on_notice``. A caller
        #: that reports ``AgentResult.stop_reason`` in its own words turns this off, so the user
        #: reads why the run stopped once.
        self.notice_stops = True
        self.db = db
        self.allow_unsandboxed = allow_unsandboxed
        self.profile = profile_for(self.model.model_id, c.profile)
        self.coding_tools = CodingTools(
            str(self.root), sandbox=c.sandbox, network=c.network, env_allow=list(c.env_allow),
            **self.profile.toolbox_options(),
        )
        self.policy = ApprovalPolicy(
            root=self.root, rules=CommandRules(allow=list(c.allow), deny=list(c.deny)), yolo=approve is True
        )
        self._init_reviewer(c)  # a second model on file changes (agent/reviewer.py)
        self._notes: list[str] = []
        self._init_hooks(c)  # the user's hooks (agent/hooked.py)
        coding = list(self.coding_tools.tools())
        coding += self._written_tools(c, {t.name for t in coding})  # create_tool, .llm-code/tools
        disabled = {short_tool_name(n) for n in c.disabled_tools}
        unknown = disabled - {short_tool_name(t.name) for t in coding} - {"create_tool", DELEGATE_TOOL, ACTIVATE_SKILL}
        if unknown:
            raise ValueError(
                f"cannot disable unknown tool {', '.join(sorted(unknown))}: the tools are "
                + ", ".join(short_tool_name(t.name) for t in coding)
            )
        self._init_skills(skills)  # before the tools: activate_skill is one (agent/skills.py)
        self._init_planning(plan_approver, on_todos)
        self._edit_file_tool = next((t for t in coding if short_tool_name(t.name) == "edit_file"), None)
        self.tools: list[llm.Tool] = [t for t in coding if short_tool_name(t.name) not in disabled]
        self.offer_profile_tools()  # the profile may withhold edit_file (small models write whole files)
        extra = wrap_tools(tools) + self._start_mcp(c)  # MCP servers: agent/mcp_servers.py; close() stops them
        self.tools = described_tools(self.tools + extra + [self.todos.tool()] + self.skill_tools(), self.profile)
        self._todo_tool = self._tool(TODO_TOOL)
        self._skill_tool = self._tool(ACTIVATE_SKILL)
        self.offer_profile_tools()  # ...and update_todos, activate_skill
        self._init_delegation(on_subagent, extra)  # the delegate tool (agent/subagents.py)
        self._start_planning(c.plan)
        self.conversation = conversation or self.model.conversation(tools=self.tools)
        self.conversation.tools = self.tools
        self.usage = TokenUsage()
        self.context = ContextBudget(
            window=window_for(self.model, c.context_window), overhead=tools_overhead(self.tools)
        )
        self.undo_history = None
        if c.undo:
            from ..safety.undo import UndoHistory

            self.undo_history = UndoHistory(self.root)
        self._history_override: list | None = None
        self._system_outdated = False  # set_model() switched to another profile
        self._budget_warned = False
        self._pending: list[llm.ToolCall] = []
        self._decline_reasons: dict[str, str] = {}  # resume(reasons=...): why the user declined
        self._unsent_results: list[llm.ToolResult] = []
        self._sandbox_asked = False
        self._log_store = None
        #: ``check(result) -> reason | None`` after each tool round: a reason ends the run (autonomous.py).
        self.stop_checks: list[Callable[[AgentResult], str | None]] = []

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

        if conversation_id is None:  # the latest, but never a sub-agent's (agent/subagents.py)
            conversation_id = latest_main_conversation(db)
        try:
            conversation = load_conversation(conversation_id, database=db_path(db))
        except click.ClickException as ex:
            raise AgentStateError(ex.message) from None
        if conversation is None:
            raise AgentStateError("there is no logged conversation to continue")
        if kwargs.get("root") is None:
            kwargs["root"] = conversation_root(conversation)
        if kwargs.get("model") is None:
            kwargs["model"] = conversation.model
        agent = cls(conversation=conversation, db=db, **kwargs)
        agent._pending = _trailing_pending_tool_calls(conversation.loaded_messages or []) or []
        agent._recover_planning()
        agent._recover_skills()
        settle_completed_calls(agent)  # an autonomous run's last task_complete went unanswered
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

    @property
    def chain_limit(self) -> int:
        """Tool rounds per task (``config.chain_limit``)."""
        return self.config.chain_limit

    @chain_limit.setter
    def chain_limit(self, value: int) -> None:
        self.config.chain_limit = value

    def set_model(self, model: str | llm.Model) -> None:
        """Switch models; the conversation history is kept."""
        self.model = get_model(model)
        before, self.profile = self.profile, profile_for(self.model.model_id, self.config.profile)
        # The next run sends the new profile's system prompt (its rules, its list of skills).
        self._system_outdated = self._system_outdated or self.profile != before
        self.offer_profile_tools()
        self.tools[:] = described_tools(self.tools, self.profile)
        vars(self.coding_tools).update(self.profile.toolbox_options())
        self.offer_delegate()
        self.context.window = window_for(self.model, self.config.context_window)
        self.context.reserve = min(4096, self.context.window // 4)
        try:
            self.options = checked_options(self.model, self.options)
        except ModelError:
            self._notice(f"model options {sorted(self.options)} do not apply to {self.model.model_id}; dropped")
            self.options = {}
        self.conversation.model = self.model

    # -- the loop ---------------------------------------------------------------------------------

    def run(self, prompt: str, attempts: int | None = None) -> AgentResult:
        """Send ``prompt`` and work until the model answers without tools, pauses, or a limit.
        ``attempts`` (else ``config.attempts``) > 1: see :mod:`.attempts`."""
        if self._pending:
            raise AgentStateError("the agent is paused waiting for approval; call resume() first")
        if not isinstance(prompt, str) or not prompt.strip():
            raise AgentStateError("prompt must be a non-empty string")
        blocked = self.prompt_hooks(prompt)  # UserPromptSubmit hooks (agent/hooked.py)
        if blocked is not None:
            return blocked
        count = attempts or self.attempts_for(prompt)
        if count > 1 and not self.planning:
            return self.run_attempts(prompt, count)
        self._snapshot(prompt)
        request, prompt = prompt, self.prepare_prompt(prompt)
        result = AgentResult()
        if self._over_token_budget(result):
            return result
        results, self._unsent_results = self._unsent_results, []
        first = not self.conversation.responses and not self.conversation.loaded_messages
        system = None
        if first or self._system_outdated:
            self._system_outdated = False
            system = system_prompt(self.root, self.config.system, compact=self.profile.compact_prompt,
                                   whole_file=not self.profile.offers_edit_file) + self.skills_prompt()
        return self._drive(self.send(prompt, system=system, tool_results=results), result, request)

    def resume(self, approve: bool | Iterable[str] | None = True, reasons: dict[str, str] | None = None) -> AgentResult:
        """Continue a paused run: ``True`` approves the pending calls, ``False`` declines them all,
        a set of tool call ids approves just those (the rest are declined). ``reasons``: tool call
        id → why the user declined that call, told to the model with the refusal."""
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
        self._decline_reasons = dict(reasons or {})
        results = earlier + self.execute_all(calls, result, preapproved=approved)
        if self._stopped_mid_batch(result, results):
            return result
        return self._drive(self.send(tool_results=results), result)

    def discard_pending(self, reason: str = "the session was continued without running them") -> None:
        """Answer the pending calls as declined without asking the model anything yet; the next
        ``run()`` sends those answers along with its prompt."""
        self._unsent_results += [self._cancelled(call, reason) for call in self._pending]
        self._pending = []

    def prepare_prompt(self, prompt: str) -> str:
        """The text sent for ``prompt``: the files it names, then any notes for the model."""
        if self.config.attach_files:
            prompt = self._attach_mentioned(prompt) + prompt
        if self._notes:
            prompt = "\n".join(self._notes) + "\n\n" + prompt
            self._notes = []
        return self.plan_mode_prompt(prompt)

    def _drive(self, response: llm.Response | None, result: AgentResult, request: str = "") -> AgentResult:
        run = RunState(request=request)
        while response is not None:
            self.consume(response, result)
            response = self.step(response, result, run)
        result.tests_passed = last_test_outcome(result.tool_calls)
        return result

    def step(self, response: llm.Response, result: AgentResult, run: RunState) -> llm.Response | None:
        """Act on one consumed response: the next response, or None once the run has ended."""
        if result.interrupted:
            result.stop_reason = "interrupted"
            return None
        calls = response.tool_calls()
        if not calls:
            return self.finish(result, run)
        if run.rounds >= self.config.chain_limit:
            return self._end_at_chain_limit(calls, result)
        if self._must_pause(calls, result):
            return None
        results = self.execute_all(calls, result, repeats=run.repeats)
        if self._stopped_mid_batch(result, results):
            return None
        run.rounds += 1
        stop = self.stop_reason(run, result)
        if stop:
            # Results are sent with the next prompt, so the history never holds a call without
            # its result.
            self._unsent_results = results
            result.stop_reason = stop
            return None
        return self.send(tool_results=results)

    def finish(self, result: AgentResult, run: RunState) -> llm.Response | None:
        """The model answered without tools: end the run, or send it back once more: (headless) to
        apply code the answer shows but no tool wrote, because the answer only echoed what it was
        told, for the plan plan mode wants, with the failure of the tests the agent ran because
        the model did not (``verify_with_tests``), or because a Stop hook said so."""
        message = (
            self.unapplied_code_nudge(result, run)  # agent/shown_code.py
            or self._echo_nudge(result, run)
            or self.plan_nudge(result, run)  # plan mode: asked once for the plan not presented
            or (self.check_with_tests(result, run) if self.profile.verify_with_tests else None)
            or self.stop_hooks(result, run)  # agent/hooked.py
        )
        if message:
            run.sent.append(message)
            return self.send(message)
        if run.echo_nudged and self._only_echoes(result, run):
            result.text = echoed_answer_replacement(result)  # never the agent's own words as the answer
        result.stop_reason = "interrupted" if result.interrupted else "done"
        return None

    def _echo_nudge(self, result: AgentResult, run: RunState) -> str | None:
        """Once per run (``catch_echoed_answers``): the answer only repeats the request, the step
        lines or what the agent itself sent back (a test failure, a nudge)."""
        if not (self.profile.catch_echoed_answers and not run.echo_nudged and run.request):
            return None
        if not self._only_echoes(result, run):
            return None
        run.echo_nudged = True
        self._notice("the answer only repeated the instructions; asking the model again")
        return ECHO_NUDGE.format(request=run.request.strip())

    @staticmethod
    def _only_echoes(result: AgentResult, run: RunState) -> bool:
        """The answer repeats the request, the step lines or what the agent sent back."""
        return echoes_instructions(result.text, [run.request, *STEP_HINTS, *run.sent])

    def _end_at_chain_limit(self, calls: list[llm.ToolCall], result: AgentResult) -> None:
        """``chain_limit`` rounds ran and the model wants more: answer these calls as not run."""
        limit = self.config.chain_limit
        self._unsent_results = [
            self._cancelled(call, f"the chain limit of {limit} tool rounds for this task was reached")
            for call in calls
        ]
        result.stop_reason = "limit"
        result.hit_limit = True
        return None

    def _must_pause(self, calls: list[llm.ToolCall], result: AgentResult) -> bool:
        """With ``approve=None``, a batch holding a call that needs approval waits for resume()."""
        if self.approve is not None or not any(self.decide(c).verdict is Verdict.ASK for c in calls):
            return False
        self._pending = list(calls)
        result.paused = True
        result.pending_tool_calls = list(calls)
        result.stop_reason = "paused"
        return True

    def stop_reason(self, run: RunState, result: AgentResult) -> str | None:
        """Why the run must stop after this round instead of sending the results, if it must."""
        reason = next((r for r in (check(result) for check in self.stop_checks) if r), None)
        if reason:
            return reason
        if run.repeats.stop_reason == "repeated_failures":
            self._stop_notice("stopped: the model repeated the same failing call")
            return run.repeats.stop_reason
        if run.repeats.stop_reason == "repeated_calls":
            self._stop_notice("stopped: the model repeated the same call with the same result")
            return run.repeats.stop_reason
        max_turns = self.config.max_turns
        if max_turns and result.model_calls >= max_turns:
            self._stop_notice(f"stopped: the turn budget ({max_turns} model calls per task) is used up")
            return "max_turns"
        if self._over_token_budget(result):
            return result.stop_reason
        return None

    def _over_token_budget(self, result: AgentResult) -> bool:
        budget = self.config.max_tokens
        if not budget:
            return False
        used = (self.usage.input or 0) + (self.usage.output or 0)
        if used >= budget:
            self._stop_notice(f"stopped: the token budget ({used:,} of {budget:,} tokens) is used up")
            result.stop_reason = "max_tokens"
            return True
        if used >= 0.8 * budget and not self._budget_warned:
            self._budget_warned = True
            self._notice(f"warning: {used:,} of the {budget:,}-token budget used (80%)")
        return False

    def _stopped_mid_batch(self, result: AgentResult, results: list[llm.ToolResult]) -> bool:
        """After an interrupt, a PauseChain or a rejected plan inside a batch: keep the results for
        the next prompt."""
        rejected = self.planning_stop()
        if not (result.interrupted or result.paused or rejected):
            return False
        self._unsent_results = results
        result.stop_reason = "interrupted" if result.interrupted else "paused" if result.paused else rejected
        result.pending_tool_calls = list(self._pending)
        return True

    # -- requests and responses -------------------------------------------------------------------

    def send(self, prompt: str | None = None, system: str | None = None, tool_results=None) -> llm.Response:
        """Send the next request, compacting the history first when it would not fit."""
        history = self.history()
        incoming = (len(prompt or "") + len(system or "")) // 4
        messages = None
        if history:
            fitted, report = self.context.compact(history, incoming, self._summarize, pinned=self.pinned_context())
            if report is not None:
                self._notice(report.describe())
            if report is not None or self._history_override is not None:
                messages = fitted
            history = fitted
        self._history_override = None
        if tool_results and prompt is None and self.profile.next_step_hint:
            prompt = next_step_hint(tool_results)
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
            key=self.config.key,
            options=capped_output(self.model, self.options, self.profile.max_output_tokens),
        )

    def consume(self, response: llm.Response, result: AgentResult) -> None:
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
                    close_interrupted(response, "\n[answer cut off: it exceeded the length limit]")
                    self._notice("the model's answer ran past the length limit and was cut off")
                    break
        except KeyboardInterrupt:
            close_interrupted(response)
            result.interrupted = True
        except json.JSONDecodeError:
            # The OpenAI plugin raises when a model emits malformed JSON arguments; the stream
            # events still hold the call, so close the response and let validation answer it.
            close_response(response)
            for call in stream_tool_calls(response):
                response.add_tool_call(call)
        except Exception as ex:
            raise ModelError(describe_model_error(self.model, ex)) from ex
        result.model_calls += 1
        usage = response.usage()
        self.context.observe(list(response.prompt.messages), usage.input)
        result.usage.add(usage.input, usage.output)
        self.usage.add(usage.input, usage.output)
        result.text = response.text()
        if not result.interrupted and not response.tool_calls() and self.config.text_tool_calls:
            for name, arguments in self.recover_text_calls(result.text):
                response.add_tool_call(llm.ToolCall(name=name, arguments=arguments))
        self._log(response)

    def recover_text_calls(self, text: str) -> list[tuple[str, dict]]:
        """Tool calls the model wrote as text (see :mod:`llm_coding_agent.agent.textcalls`)."""
        return parse_text_tool_calls(text, self._resolve_tool_name, repair=self.profile.repair_call_json) or self.plan_from_text(text)

    # -- logging, notices -----------------------------------------------------------------------

    def _log(self, response: llm.Response) -> None:
        if self.db is not None:
            self._log_store = log_response(response, self.db, self._log_store)

    def _notice(self, message: str) -> None:
        if self.on_notice:
            self.on_notice(message)

    def _stop_notice(self, message: str) -> None:
        if self.notice_stops:
            self._notice(message)
