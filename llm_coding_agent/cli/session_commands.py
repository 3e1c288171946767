"""The ``!name`` / ``/name`` commands of an ``llm code`` session.

Each command is a method ``_cmd_<name>(self, arg)`` of the session; its docstring's first line is
its line in ``!help`` (``"[ARG]  what it does"``). A mixin adds commands by defining such methods
(plan mode's ``!plan`` lives in :mod:`.plan_ui`); names, ``!help`` and Tab completion follow.
A name no method answers goes to :meth:`SessionCommands._other_command`, which a mixin may
extend (for commands that are not methods, such as the user's own command files).
"""

from __future__ import annotations

from ..errors import CodingAgentError

__all__ = ["SessionCommands", "is_session_command", "HELP_FOOTER"]

#: The end of ``!help``: how to type, complete and interrupt.
HELP_FOOTER = """\
Messages: Enter sends; \\ then Enter, Esc then Enter, or Shift+Enter (in terminals that report it)
starts a new line (piped input: end a line with \\ to continue). Tab completes commands, @file
paths and !model ids. Approving a file change, e opens it in $VISUAL/$EDITOR to change it first.
Ctrl-C cancels the running turn; Ctrl-C again at the prompt, or Ctrl-D, exits."""

#: The order of ``!help``; commands not named here follow, alphabetically.
HELP_ORDER = ("help", "quit", "yolo", "model", "tokens", "output", "undo", "compact", "plan", "clear", "resume")

#: Other names of commands (they do not show in ``!help``).
ALIASES = {"exit": "quit", "q": "quit"}


def is_session_command(text: str, names) -> bool:
    """``!anything``, or ``/`` and a command name (``/usr/bin/python is broken`` is a message)."""
    if text.startswith("!"):
        return True
    return text.startswith("/") and text[1:].partition(" ")[0].lower() in names


class SessionCommands:
    """The session commands, as methods of :class:`~.session.Session`."""

    @classmethod
    def builtin_command_names(cls) -> list[str]:
        """The names of the ``_cmd_`` methods, and their aliases."""
        names = {attr[len("_cmd_"):] for attr in dir(cls) if attr.startswith("_cmd_")}
        return sorted(names | set(ALIASES))

    def command_names(self) -> list[str]:
        """Every command name (for Tab completion and telling ``/name`` from a message); a mixin
        with commands that are not methods extends this."""
        return self.builtin_command_names()

    def help_text(self) -> str:
        names = [n for n in self.builtin_command_names() if n not in ALIASES]
        ordered = [n for n in HELP_ORDER if n in names] + sorted(n for n in names if n not in HELP_ORDER)
        lines = ["In-session commands (/help, /model... work as well as !help, !model...):"]
        for name in ordered:
            doc = (getattr(type(self), f"_cmd_{name}").__doc__ or "").strip().splitlines()[0]
            usage, _, what = doc.partition("  ")
            label = f"!{name} {usage}".rstrip() if what else f"!{name}"
            lines.append(f"  {label:<17}{(what or usage).strip()}")
        return "\n".join(lines + [HELP_FOOTER])

    def _command(self, text: str) -> str | None:
        """Run ``!name [arg]`` (or ``/name [arg]``); "quit" when the session should end."""
        name, _, arg = text[1:].partition(" ")
        name, arg = ALIASES.get(name.lower(), name.lower()), arg.strip()
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None:
            return self._other_command(name, arg)
        return handler(arg)

    def _other_command(self, name: str, arg: str) -> str | None:
        self.ui.error(f"unknown command !{name}; !help lists them")
        return None

    # -- the commands -----------------------------------------------------------------------------

    def _cmd_help(self, arg: str) -> None:
        """this help"""
        self.ui.notice(self.help_text(), style="")

    def _cmd_quit(self, arg: str) -> str:
        """leave (!exit too; Ctrl-D works as well)"""
        return "quit"

    def _cmd_yolo(self, arg: str) -> None:
        """toggle approving every tool call"""
        policy = self.agent.policy
        policy.yolo = not policy.yolo
        self.ui.notice("yolo on: every tool call is approved (deny rules still apply)" if policy.yolo
                       else "yolo off: changes and commands ask first")

    def _cmd_model(self, arg: str) -> None:
        """[ID]  show or switch the model (history is kept)"""
        from .session import SessionError

        if not arg:
            self.ui.notice(f"model: {self.agent.model.model_id}", style="")
            return
        try:
            self.agent.set_model(self._model(arg))
            self.ui.notice(f"switched to {self.agent.model.model_id}; history kept", style="")
        except SessionError as ex:
            self.ui.error(str(ex))

    def _cmd_tokens(self, arg: str) -> None:
        """tokens used in this session (and cost where llm knows prices)"""
        self.ui.notice(self._tokens_report(), style="")

    def _cmd_output(self, arg: str) -> None:
        """the whole output of the last command (the screen shows its first and last lines)"""
        if self._last_output is None:
            self.ui.notice("no command has run in this session yet", style="")
        else:
            self.ui.show_output(self._last_output)

    def _cmd_undo(self, arg: str) -> None:
        """restore the files to how they were before the last turn"""
        try:
            outcome = self.agent.undo()
            self.ui.notice(outcome.summary(), style="")
        except CodingAgentError as ex:
            self.ui.error(str(ex))

    def _cmd_compact(self, arg: str) -> None:
        """[focus]  summarise the conversation so far to free context"""
        report = self.agent.compact(arg or None)
        self.ui.notice(report.describe() if report else "nothing to compact yet", style="")

    def _cmd_clear(self, arg: str) -> None:
        """start a new conversation with the same settings"""
        self.agent = self._make_agent(fresh=True)
        self.ui.notice(f"new conversation {self.agent.conversation_id}", style="")

    def _cmd_resume(self, arg: str) -> None:
        """continue another of this directory's recent sessions (pick it by number)"""
        self._switch_conversation()

    def _cmd_plan(self, arg: str) -> None:
        """[task]  plan mode on/off: read-only until you approve the model's plan (y / e / n)"""
        self._plan_command(arg)

    def _tokens_report(self) -> str:
        agent = self.agent
        usage = agent.usage

        def fmt(n):
            return "not reported" if n is None else f"{n:,}"

        in_context, how = agent.context_tokens()
        saved = sum(r.saved for r in agent.context.compactions)
        lines = [
            f"context: {in_context:,} tokens ({how}) of a {agent.context.window:,}-token window"
            f" (compaction at {agent.context.limit:,})",
            f"session tokens: input {fmt(usage.input)}, output {fmt(usage.output)}",
            f"compactions: {len(agent.context.compactions)}, about {saved:,} tokens saved",
            f"model {agent.model.model_id}; llm has no price data, so no cost is shown",
        ]
        if agent.config.max_tokens:
            lines.append(f"budget: --max-tokens {agent.config.max_tokens:,}")
        return "\n".join(lines)
