"""One ``llm code`` session: builds the agent from the options and settings, then runs it
interactively (prompts, approvals, ``!`` commands) or headless (``-p``, optionally ``--json``)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import click
import llm

from ..agent import AgentResult, AgentStateError, CodingAgent, EditedContent, ModelError
from ..agent.logstore import logged_root
from ..agent.reviewer import Unanswered
from ..agent.results import LIMIT_STOPS
from ..config import SessionConfig
from ..errors import CodingAgentError
from ..safety.settings import SettingsError, load_settings
from ..tools import CODING_TOOL_PREFIX, FILE_CHANGING_TOOLS, short_tool_name
from ..local import MODEL_ID, is_available
from .editor import edit_text
from .local import local_notice, missing_key_message, model_lacks_key, prepare_local_model
from .messages import declined_advice, recap, resume_hint, stop_message
from .live import turn_status
from .hooks_ui import HooksSession, call_title
from .mcp_ui import McpSession
from .plan_ui import PlanSession
from .session_commands import SessionCommands, is_session_command
from .sessions import ResumeSession
from .subagent_ui import SubagentSession
from .skills_ui import SkillsAndCommands
from .ui import TerminalUI

__all__ = ["Session", "SessionError", "EXIT_OK", "EXIT_ERROR", "EXIT_LIMIT", "EXIT_INTERRUPTED", "emit_event"]

#: Exit status: the run ended normally.
EXIT_OK = 0
#: Exit status: an error (bad option, model failure, ...).
EXIT_ERROR = 1
#: Exit status: the run stopped at a limit (chain limit, repeated failures, budget).
EXIT_LIMIT = 3
#: Exit status: Ctrl-C ended the run (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130

class SessionError(CodingAgentError):
    """A problem that ends ``llm code`` with one line and exit status 1."""


def _exit_status(result: AgentResult) -> int:
    if result.interrupted:
        return EXIT_INTERRUPTED
    if result.stop_reason == "prompt_blocked":  # a UserPromptSubmit hook refused the task
        return EXIT_ERROR
    return EXIT_LIMIT if result.stop_reason in LIMIT_STOPS else EXIT_OK


def emit_event(event: dict) -> None:
    """One ``--json`` event: a line of JSON on stdout."""
    sys.stdout.write(json.dumps(event, default=str) + "\n")
    sys.stdout.flush()


class Session(
    SkillsAndCommands, SessionCommands, SubagentSession, PlanSession, ResumeSession, HooksSession, McpSession
):
    """One ``llm code`` session, configured by the options the command line gave (a layer of
    :class:`~llm_coding_agent.config.SessionConfig` values) over the settings files."""

    def __init__(self, command_line: Mapping[str, Any], ui: TerminalUI | None = None):
        given = SessionConfig().layered(command_line)
        self.headless = given.print_prompt is not None
        self.root = Path(given.root or ".").expanduser()
        if not self.root.is_dir():
            raise SessionError(f"directory does not exist: {given.root}")
        self.root = self.root.resolve()
        self.db = self._open_db(given)
        if given.continue_ and not given.conversation_id and not given.all_sessions:
            # -c: this directory's latest session, never another project's (--all: anyone's).
            command_line = {**command_line, "conversation_id": self._latest_here(self.root)}
            given = SessionConfig().layered(command_line)
        if given.continues and given.root is None:
            # Settings belong to the project the conversation worked in, not the current directory.
            self.root = Path(logged_root(given.conversation_id) or self.root)
        self.ui = ui or TerminalUI(
            stdout=sys.stderr if self.headless else sys.stdout,
            history_path=llm.user_dir() / "llm-code-history.txt",
        )
        if given.pick_session:
            chosen = self._pick_conversation(self.root, none_left="starting a new one", skip="start a new session")
            if chosen is not None:
                command_line = {**command_line, "conversation_id": chosen}
        try:
            self.settings = load_settings(self.root, trust=None if self.headless else self._trust_project)
        except SettingsError as ex:
            raise SessionError(str(ex)) from None
        if self.settings.untrusted_project_file is not None and self.settings.project_pending:
            self.ui.notice(
                f"{self.settings.untrusted_project_file} has settings ({', '.join(self.settings.project_pending)})"
                " that are inactive until you trust it (run interactively to be asked)"
            )
        self.extensions = self._load_extensions()  # skills and custom commands (cli/skills_ui.py)
        #: The effective configuration: defaults, then the settings files, then the command line.
        self.config: SessionConfig = SessionConfig().layered(self.settings.config_layer(), command_line)
        self.extra_tools = self._gather_tools(self.config.tool_specs, self.config.functions)
        self._previewed: set[str | None] = set()  # calls whose diff the approval prompt showed
        self._prepared_local: llm.Model | None = None  # the built-in model, once its weights are ready
        self._declined: list[tuple[str, dict]] = []  # calls a headless run could not approve
        self._started: llm.ToolCall | None = None  # the call that started running and has no result yet
        self._last_output: str | None = None  # the last command's result, for !output
        self._trust_tool_files()  # .llm-code/tools files, shown before they load (hooks_ui.py)
        self._trust_project_mcp()  # interactive: ask about the project's .mcp.json (cli/mcp_ui.py)
        self.agent = self._make_agent()

    # -- construction -----------------------------------------------------------------------------

    def _open_db(self, config: SessionConfig):
        from llm.cli import logs_db_path, logs_on
        from llm.migrations import migrate
        import sqlite3

        import sqlite_utils

        if not logs_on():
            if config.continues or config.pick_session:
                raise SessionError("cannot continue a conversation: logging is off (`llm logs on`)")
            return None
        # A generous busy timeout: `llm code batch` runs sessions in parallel on the same logs.
        db = sqlite_utils.Database(sqlite3.connect(str(logs_db_path()), timeout=30))
        migrate(db)
        return db

    def _trust_project(self, path: Path, data: dict) -> bool:
        rules = ", ".join(data.get("allow", [])) or "(none)"
        others = "; ".join(f"{k} {json.dumps(v)}" for k, v in data.items() if k not in ("allow", "deny"))
        return self.ui.confirm(
            f"{path} (from the project) wants to pre-approve commands: {rules}"
            + (f" and set {others}" if others else "") + ". Trust this file?"
        )

    def _gather_tools(self, specs, functions) -> list:
        if not specs and not functions:
            return []
        from llm.cli import _gather_tools

        try:
            return _gather_tools(list(specs), list(functions))
        except click.ClickException as ex:
            raise SessionError(ex.message) from None

    def _agent_kwargs(self) -> dict[str, Any]:
        config = self.config
        return dict(
            config.agent_arguments(),
            root=str(self.root),
            # Headless runs have nobody to say "now apply that": nudge once instead.
            nudge_unapplied=self.headless or config.nudge_unapplied,
            approve=True if config.yolo else self._headless_approve if self.headless else self._approve,
            tools=self.extra_tools,
            on_text=self._on_text,
            on_tool=self._on_tool,
            on_tool_start=self._on_tool_start,
            on_notice=self.ui.notice,
            db=self.db,
            allow_unsandboxed=False if self.headless else self._allow_unsandboxed,
            plan_approver=self._plan_approver(),
            on_todos=self._show_todos,
            on_subagent=self._on_subagent,
            skills=self.extensions.skills,
        )

    def _make_agent(self, fresh: bool = False) -> CodingAgent:
        config = self.config
        continues = not fresh and config.continues
        # The model first: preparing the built-in one sets the context window the agent gets.
        model = self._model(config.model) if config.model or config.local or not continues else None
        kwargs = dict(self._agent_kwargs(), model=model)
        if model is not None:
            kwargs["options"] = self._options_for(model)
        try:
            if continues:
                if config.root is None:
                    kwargs.pop("root")  # the logged root wins unless -d was given
                agent = CodingAgent.load(config.conversation_id, **kwargs)
            else:
                agent = CodingAgent(**kwargs)
        except (AgentStateError, ModelError, ValueError) as ex:
            # ValueError: an option value that cannot work (CodingAgent checks them all).
            raise SessionError(str(ex)) from None
        try:
            self._check_model(agent.model)
        except SessionError:
            agent.close()
            raise
        self.close()  # the agent this one replaces (!clear, !resume) stops its MCP servers
        agent.notice_stops = False  # _stop_message says why, with how to go on
        # The screen shows a running command's last lines; headless runs stay quiet.
        agent.coding_tools._on_output = None if self.headless else self.ui.tool_output
        return agent

    def _model(self, model_id: str | None) -> llm.Model:
        """The model to use: the one named, else llm's default, else (no key for the default, and
        nothing named) the built-in local model, saying so in one line."""
        if model_id is None and self.config.local:
            model_id = MODEL_ID
        try:
            model = llm.get_model(model_id) if model_id else llm.get_model(llm.get_default_model())
        except llm.UnknownModelError:
            raise SessionError(
                f"unknown model: {model_id or llm.get_default_model()} (see `llm models`)"
            ) from None
        if model_id is None and model_lacks_key(model, self.config.key) and is_available():
            self.ui.notice(local_notice(model.model_id, model.needs_key), style="dim")
            model = llm.get_model(MODEL_ID)
        self._check_model(model)
        return model

    def _options_for(self, model: llm.Model) -> dict:
        """The model's options: those kept with `llm models options set`, then `-o` over them
        (as `llm prompt` and `llm chat` combine them)."""
        from llm.cli import get_model_options

        return {**get_model_options(model.model_id), **self.config.options}

    def _check_model(self, model) -> None:
        if not getattr(model, "supports_tools", False):
            raise SessionError(
                f"model {model.model_id} does not support tools; pick one that does with -m (see `llm models`)"
            )
        if model_lacks_key(model, self.config.key):
            raise SessionError(missing_key_message(model))
        if model.model_id == MODEL_ID and model is not self._prepared_local:
            try:
                n_ctx = prepare_local_model(model, self._options_for(model), self.ui.notice,
                                            waiting=None if self.headless else self.ui.waiting)
            except llm.ModelError as ex:
                raise SessionError(str(ex)) from None
            self._prepared_local = model
            if self.config.context_window is None:
                self.config.context_window = n_ctx

    # -- callbacks --------------------------------------------------------------------------------

    def _on_text(self, chunk: str) -> None:
        if self.config.json_output:
            emit_event({"type": "text", "text": chunk})
        elif self.headless:
            sys.stdout.write(chunk)
            sys.stdout.flush()
        else:
            self.ui.stream_text(chunk)

    def _on_tool_start(self, call: llm.ToolCall) -> None:
        self._started = call
        if self.config.json_output:
            self._emit_tool_call(call)
        elif not self.headless and not self._quiet_tool(call):
            self.ui.tool_started(call)

    def _emit_tool_call(self, call: llm.ToolCall) -> None:
        emit_event({"type": "tool_call", "id": call.tool_call_id, "name": call.name, "arguments": call.arguments})

    def _on_tool(self, call: llm.ToolCall, result: llm.ToolResult) -> None:
        ran, self._started = self._started is call, None
        if ran and short_tool_name(call.name) == "execute_command":
            self._last_output = result.output
        if self.config.json_output:
            if not ran:  # refused, declined or invalid: announced with its result
                self._emit_tool_call(call)
            emit_event({
                "type": "tool_result", "id": call.tool_call_id, "name": call.name,
                "output": result.output, "error": result.output.startswith(("Error:", "Cancelled:")),
            })
            return
        if not self._quiet_tool(call, result):
            self.ui.tool_line(
                call, result, show_diff=call.tool_call_id not in self._previewed, show_output=not self.headless
            )
        if not self.headless:
            self.ui.waiting()

    def _headless_approve(self, tool, call) -> bool:
        self._declined.append((tool.name, call.arguments if isinstance(call.arguments, dict) else {}))
        raise Unanswered(
            "running headless (-p) without --yolo or a matching --allow rule, so nothing that "
            "changes files or runs commands can be approved"
        )

    def _approve(self, tool, call, editable: bool = True) -> bool | EditedContent:
        agent = self.agent
        name = short_tool_name(tool.name)
        arguments = call.arguments if isinstance(call.arguments, dict) else {}
        edit = None
        if tool.name.startswith(CODING_TOOL_PREFIX):
            preview = agent.coding_tools._preview(name, arguments)
            if editable and name in FILE_CHANGING_TOOLS:
                edit = self._editor_for(name, arguments)
        else:
            preview = self._approval_preview(tool, arguments)
        decision = agent.policy.decide(tool.name, arguments)
        title = {"write_file": "Write", "edit_file": "Edit", "execute_command": "Run"}.get(name, "Call")
        subject = arguments.get("path") or arguments.get("command") or tool.name
        title = call_title(tool.name, arguments) or f"{title} {subject}?"
        if agent.active_subagent is not None:
            title = f"Sub-agent: {title}"
        if decision.destructive:
            title += f"  ({decision.reason})"  # "destructive: `rm -rf x` deletes ...; ..."
        always = None if decision.destructive else agent.policy.always_description(tool.name, arguments)
        if agent.current_review is not None:  # the reviewer's comment, above the diff
            self.ui.notice(agent.current_review.comment(), style="cyan")
        answer = self.ui.ask_approval(title, preview, always, edit=edit)
        self._previewed.add(call.tool_call_id)
        if answer.kind == "edit":
            self._previewed.discard(call.tool_call_id)  # what is written is not what was shown
            return EditedContent(answer.content)
        if answer.kind == "always":
            allowed = agent.policy.remember_always(tool.name, arguments)
            if allowed:
                self.ui.notice(f"allowed {allowed}", style="dim")
            return True
        if answer.kind == "yes":
            return True
        if answer.reason:
            raise llm.CancelToolCall(answer.reason)
        return False

    def _editor_for(self, name: str, arguments: dict):
        """For the approval prompt's ``e``: the proposed content of the file, in the user's editor."""
        try:
            display, _, proposed = self.agent.coding_tools._change(name, arguments)
        except CodingAgentError:
            return None  # bound to fail: nothing to edit

        def edit() -> tuple[str | None, str]:
            outcome = edit_text(proposed, display, terminal=self.ui.interactive_in)
            return outcome.text, outcome.problem

        return edit

    def _allow_unsandboxed(self, reason: str) -> bool:
        self.ui.notice(f"Sandbox unavailable: {reason}")
        return self.ui.confirm("Run commands WITHOUT a sandbox for this session?")

    # -- running ----------------------------------------------------------------------------------

    def run_headless(self, task: str) -> int:
        if self.agent.paused:
            self.ui.notice("The continued conversation had tool calls waiting; they are declined.")
            self.agent.discard_pending("declined: the session was continued headless (-p)")
        self._declined = []
        try:
            result = self.agent.run(self._custom_task(task))  # -p "!review app.py": a custom command
        except (ModelError, AgentStateError) as ex:
            raise SessionError(str(ex)) from None
        if self._started is not None and self.config.json_output:  # Ctrl-C stopped it: no result came
            call, self._started = self._started, None
            emit_event({"type": "tool_result", "id": call.tool_call_id, "name": call.name,
                        "output": "Error: interrupted by the user", "error": True})
        if self._declined:
            self.ui.notice(declined_advice(self._declined, self.agent.policy.rules, self.agent.root))
        stopped_at_plan = self._headless_plan_notice(result)
        status = _exit_status(result)
        if self.config.json_output:
            emit_event({
                "type": "final",
                "text": result.text,
                "status": {"done": "ok"}.get(result.stop_reason, result.stop_reason),
                "stop_reason": result.stop_reason,
                "hit_limit": result.hit_limit,
                "usage": {"input": result.usage.input, "output": result.usage.output},
                "model_calls": result.model_calls,
                "tool_calls": len(result.tool_calls),
                "tests_passed": result.tests_passed,
                "conversation_id": self.agent.conversation_id,
            })
        else:
            if result.text and not result.text.endswith("\n"):
                sys.stdout.write("\n")
            if result.stop_reason != "done" and not stopped_at_plan:
                self.ui.notice(self._stop_message(result))
        return status

    def _stop_message(self, result: AgentResult) -> str:
        config = self.agent.config
        return stop_message(
            result.stop_reason, chain_limit=config.chain_limit, max_turns=config.max_turns,
            max_tokens=config.max_tokens, headless=self.headless,
        )

    def run_interactive(self, first_prompt: str | None) -> int:
        self._header()
        self.ui.set_completion(commands=[n for n in self.command_names() if n != "q"], root=lambda: self.agent.root)
        if self.config.continues:
            self._continued()
        if first_prompt and first_prompt.strip():
            self.ui.echo_message(first_prompt)  # typed lines show as typed; an argument does not
        self._conversation_loop(first_prompt)
        self._resume_hint()
        return EXIT_OK

    def _continued(self) -> None:
        """What a continued conversation opens with: the recap, then the calls it left waiting."""
        summary = recap(self.agent.history(), self.agent.conversation_id)
        self.ui.notice(summary or f"continuing conversation {self.agent.conversation_id}", style="dim")
        self._show_recovered_todos()
        if self.agent.paused:
            self.ui.notice("This conversation stopped with tool calls waiting for approval.")
            self._turn(resume=True)

    def _conversation_loop(self, first_prompt: str | None) -> None:
        """Messages and commands until Ctrl-D, ``!quit`` or Ctrl-C twice."""
        pending = first_prompt
        interrupts = 0
        while True:
            try:
                if pending is None:
                    pending = self.ui.read_prompt()
                    if pending is None:
                        return
                interrupts = 0
                text, pending = pending.strip(), None
                if not text:
                    continue
                if is_session_command(text, self.command_names()):
                    if self._command(text) == "quit":
                        return
                    continue
                self._turn(text)
            except KeyboardInterrupt:
                # Ctrl-C at the prompt (or between turns): once warns, twice exits.
                pending = None
                interrupts += 1
                if interrupts >= 2:
                    return
                try:
                    self.ui.notice("(Ctrl-C again or Ctrl-D to exit)", style="dim")
                except KeyboardInterrupt:
                    return

    def _resume_hint(self) -> None:
        conversation = self.agent.conversation
        if self.db is not None and (conversation.responses or conversation.loaded_messages):
            self.ui.notice(resume_hint(self.agent.conversation_id, self.agent.root, Path.cwd()), style="dim")

    def _turn(self, text: str | None = None, resume: bool = False) -> None:
        self.ui.waiting()
        started = time.monotonic()
        try:
            if resume:
                # Pending calls from a logged session: ask for each, as in a live turn.
                decided = {c.tool_call_id for c in self.agent.pending_tool_calls if self._approve_pending(c)}
                result = self.agent.resume(approve=decided)
            else:
                result = self.agent.run(text)
        except (ModelError, AgentStateError) as ex:
            self.ui.error(str(ex))
            return
        except KeyboardInterrupt:
            self.ui.notice("Interrupted.")
            return
        finally:
            self._started = None
            tool_stopped = self.ui.end_turn()  # True: it said which tool Ctrl-C stopped
        if result.stop_reason != "done" and not (tool_stopped and result.stop_reason == "interrupted"):
            self.ui.notice(self._stop_message(result))
        self._turn_status(result, time.monotonic() - started)

    def _turn_status(self, result: AgentResult, seconds: float) -> None:
        agent = self.agent
        self.ui.status(turn_status(
            agent.model.model_id, agent.context_tokens(), agent.context.window,
            (result.usage.input, result.usage.output), (agent.usage.input, agent.usage.output), seconds,
        ))

    def _approve_pending(self, call: llm.ToolCall) -> bool:
        tool = self.agent._tool(self.agent._resolve_tool_name(call.name) or "")
        if tool is None or self.agent.decide(call).verdict.value == "allow":
            return True
        try:
            return self._approve(tool, call, editable=False)  # resume() takes ids, not new content
        except llm.CancelToolCall:
            return False

    def _header(self) -> None:
        mode = ("plan mode · " if self.agent.planning else "") + ("yolo" if self.agent.policy.yolo else "ask before changes")
        if self.agent.reviewer is not None:
            mode += f" · reviewer {self.agent.reviewer.model.model_id}"
        if self.agent.policy.rules.allow:
            mode += f" · allow {', '.join(self.agent.policy.rules.allow)}"
        self.ui.header(
            self.agent.model.model_id, self.agent.root, mode,
            self.agent.coding_tools._sandbox_status(), self.agent.conversation_id,
        )
