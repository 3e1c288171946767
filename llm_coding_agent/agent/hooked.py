"""Where the user's hooks run in a turn (the hooks themselves: integrations/hooks.py).

:class:`Hooked` is part of :class:`~llm_coding_agent.CodingAgent`: ``PreToolUse`` runs in
``execute_call`` after a call's arguments are checked and before anyone is asked about it (a
block refuses the call: the model gets ``Error: blocked by hook: <stderr>``); ``PostToolUse``
after a call ran without error (exit 2 adds the hook's stderr to the result, and a file a hook
rewrote is reported to the model with the diff); ``UserPromptSubmit`` at the start of ``run()``
(a block sends nothing; a passing hook's stdout goes along as context); ``Stop`` in ``finish()``
(exit 2 sends the model back to work with the hook's stderr, at most :data:`MAX_STOP_HOOK_ROUNDS`
times a run, so two hooks cannot loop forever).
"""

from __future__ import annotations

import os
from typing import Any

import llm

from ..config import AgentConfig
from ..integrations.hooks import Hooks, HookRun
from ..tools import CODING_TOOL_PREFIX, FILE_CHANGING_TOOLS, short_tool_name
from ..tools.files import unified_diff
from ..tools.sandbox import SandboxConfig, SandboxUnavailable
from .results import AgentResult

__all__ = ["Hooked", "MAX_STOP_HOOK_ROUNDS", "PROMPT_BLOCKED"]

#: How many times one run's Stop hooks may send the model back to work.
MAX_STOP_HOOK_ROUNDS = 3
#: The stop reason of a run whose request a ``UserPromptSubmit`` hook refused.
PROMPT_BLOCKED = "prompt_blocked"


class Hooked:
    """The hook points of :class:`~llm_coding_agent.CodingAgent`."""

    hooks: Hooks

    def _init_hooks(self, config: AgentConfig) -> None:
        self.hooks = Hooks.from_config(config.hooks)  # HookConfigError is a ValueError
        for what in self.hooks.ignored:
            self._notice(f"hooks: ignored {what}")

    # -- the events -------------------------------------------------------------------------------

    def pre_tool_checks(self, tool: llm.Tool, call: llm.ToolCall) -> llm.ToolResult | None:
        """The result to send instead of running ``call``, before anyone is asked about it: a
        ``create_tool`` call that cannot work, or a ``PreToolUse`` hook's block. None: go on."""
        problem = self.create_tool_problem(tool, call)
        if problem:
            return self._error(call, problem)
        name = short_tool_name(tool.name)
        runs = self._run_hooks(
            "PreToolUse", {"tool_name": name, "tool_input": self._tool_input(tool, call)},
            tool_name=tool.name, stop_at_block=True,
        )
        blocked = [r.message for r in runs if r.verdict == "blocked"]
        if not blocked:
            return None
        self._notice(f"a PreToolUse hook blocked {name}: {_first_line(blocked[0])}")
        return self._error(call, f"blocked by hook: {blocked[0]}")

    def post_tool_hooks(self, tool: llm.Tool, call: llm.ToolCall, result: llm.ToolResult) -> None:
        """Run the ``PostToolUse`` hooks of a call that ran without error; what they send back
        (exit 2), and any change they made to the file the call wrote, goes into ``result``."""
        if result.exception is not None or str(result.output).startswith(("Error:", "Cancelled:")):
            return
        if not self.hooks.matching("PostToolUse", tool.name):
            return
        tool_input = self._tool_input(tool, call)
        path = tool_input.get("file_path")
        before = _read_text(path)
        runs = self._run_hooks(
            "PostToolUse",
            {"tool_name": short_tool_name(tool.name), "tool_input": tool_input, "tool_response": result.output},
            tool_name=tool.name,
        )
        after = _read_text(path)
        if before is not None and after is not None and after != before:
            display = os.path.relpath(path, self.root)
            result.output += (
                f"\n\n[Note from the system: a PostToolUse hook changed {display} after your change:\n"
                f"{unified_diff(before, after, display, max_chars=4000)}\nRead it again before editing it further.]"
            )
        messages = [r.message for r in runs if r.verdict == "blocked"]
        if messages:
            result.output += "\n\n[PostToolUse hook feedback:\n" + "\n".join(messages) + "]"

    def prompt_hooks(self, prompt: str) -> AgentResult | None:
        """Run the ``UserPromptSubmit`` hooks: the run's result when one blocks the request
        (nothing is sent), else None; a passing hook's output becomes a note for the model."""
        runs = self._run_hooks("UserPromptSubmit", {"prompt": prompt}, stop_at_block=True)
        blocked = [r.message for r in runs if r.verdict == "blocked"]
        if blocked:
            self._notice(f"not sent: a UserPromptSubmit hook blocked the request: {blocked[0]}")
            return AgentResult(stop_reason=PROMPT_BLOCKED)
        context = [r.stdout.strip() for r in runs if r.verdict == "passed" and r.stdout.strip()]
        if context:
            self._notes.append("[Context from a UserPromptSubmit hook:]\n" + "\n".join(context))
        return None

    def stop_hooks(self, result: AgentResult, run: Any) -> str | None:
        """Run the ``Stop`` hooks when the model has finished: the message sending it back to
        work when one exits 2 (its stderr), else None."""
        if result.interrupted or not self.hooks.matching("Stop"):
            return None
        if run.stop_hook_rounds >= MAX_STOP_HOOK_ROUNDS:
            self._notice(f"Stop hooks sent the model back {MAX_STOP_HOOK_ROUNDS} times; the run ends here")
            return None
        runs = self._run_hooks(
            "Stop", {"stop_hook_active": run.stop_hook_rounds > 0, "last_assistant_message": result.text},
        )
        messages = [r.message for r in runs if r.verdict == "blocked"]
        if not messages:
            return None
        run.stop_hook_rounds += 1
        self._notice(f"a Stop hook sent the model back to work: {_first_line(messages[0])}")
        return "[A Stop hook did not let you finish yet. Its message:]\n" + "\n".join(messages)

    # -- running ----------------------------------------------------------------------------------

    def _run_hooks(self, event: str, payload: dict, tool_name: str | None = None,
                   stop_at_block: bool = False) -> list[HookRun]:
        if not self.hooks.matching(event, tool_name):
            return []
        ready, sandbox = self._hook_sandbox()
        if not ready:
            self._notice(f"{event} hooks not run: they run in the sandbox, which is unavailable here")
            return []
        base = {"session_id": self.conversation.id, "cwd": str(self.root), "root": str(self.root)}
        runs = self.hooks.run(
            event, {**base, **payload}, root=self.root, sandbox=sandbox, tool_name=tool_name,
            stop_at_block=stop_at_block,
        )
        for run in runs:
            if run.verdict == "warning":
                self._notice("warning: " + run.message)
        return runs

    def _hook_sandbox(self) -> tuple[bool, SandboxConfig | None]:
        """(may hooks run, the sandbox to run them in): the sandbox of the agent's commands,
        asking the same once-a-session question when bubblewrap cannot run here."""
        for _ in range(2):
            try:
                return True, self.coding_tools._sandbox()
            except SandboxUnavailable:
                if not self._sandbox_ready():
                    return False, None
        return False, None

    def _tool_input(self, tool: llm.Tool, call: llm.ToolCall) -> dict:
        """The call's arguments as a hook sees them; file tools also get ``file_path`` (absolute,
        Claude Code's key), so hook scripts written for it work."""
        arguments = dict(call.arguments) if isinstance(call.arguments, dict) else {}
        path = arguments.get("path")
        if tool.name.startswith(CODING_TOOL_PREFIX) and short_tool_name(tool.name) in FILE_CHANGING_TOOLS | {"read_file"} and isinstance(path, str):
            arguments["file_path"] = os.path.normpath(os.path.join(self.root, path))
        return arguments


def _read_text(path: str | None) -> str | None:
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 200 else line[:199] + "…"
