"""What ``llm code`` says in words: why a run stopped and how to go on, which declined calls an
option would allow, how to resume, a recap of a continued conversation, and the small helpers
(plurals, clipping) its one-line summaries use. No terminal code: :mod:`.ui` prints these."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..agent.mentions import request_text
from ..safety.rules import TOOL_RULE_PREFIX, CommandRules, Verdict, similar_rule
from ..tools import CODING_TOOL_PREFIX

__all__ = [
    "plural",
    "clip",
    "first_line",
    "stop_message",
    "declined_advice",
    "resume_hint",
    "recap",
    "request_text",
]

_IRREGULAR_PLURALS = {"match": "matches"}


def plural(count: int, noun: str) -> str:
    """``1 file``, ``2 files``, ``1 match``, ``0 matches``."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {_IRREGULAR_PLURALS.get(noun, noun + 's')}"


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with ``…`` saying it was cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def first_line(text: str, limit: int = 100) -> str:
    """The first non-blank line of ``text``, clipped to ``limit``."""
    return clip(next((line.strip() for line in text.splitlines() if line.strip()), ""), limit)


# -- why a run stopped ----------------------------------------------------------------------------


def stop_message(stop_reason: str, *, chain_limit: int, max_turns: int | None, max_tokens: int | None,
                 headless: bool) -> str:
    """The one notice for a run that ended other than "done": what stopped it and how to go on.

    Headless advice is a command to run; interactive advice is what to say. A token budget counts
    per session, so interactively only a new session (``llm code -c``) goes on after it.
    """
    if stop_reason == "interrupted":
        return "Interrupted."
    if stop_reason == "prompt_blocked":
        return "Not sent: a UserPromptSubmit hook blocked the request (its reason is above)."
    if stop_reason == "plan_rejected":
        return ("Plan rejected: nothing was changed and plan mode is still on. Say what you want "
                "instead, or !plan off to leave plan mode.")
    why = {
        "limit": f"the chain limit of {chain_limit} tool rounds was reached (--chain-limit)",
        "repeated_failures": "the model kept repeating a failing call",
        "repeated_calls": "the model kept repeating the same call with the same result",
        "max_turns": f"the --max-turns budget of {max_turns} model calls per task is used up",
        "max_tokens": f"the --max-tokens budget of {max_tokens or 0:,} tokens is used up",
    }.get(stop_reason)
    if why is None:
        return f"Stopped: {stop_reason}."
    if headless:
        go_on = "to go on, run `llm code -c -p continue`"
    elif stop_reason == "max_tokens":
        go_on = "the budget counts per session: to go on, exit and run `llm code -c`"
    else:
        go_on = "say 'continue' to go on"
    return f"Stopped: {why}; {go_on}."


# -- calls declined because nobody could approve them (-p) ----------------------------------------


def declined_advice(declined: list[tuple[str, dict]], rules: CommandRules, root: Path) -> str:
    """One line for the user after a headless run that declined ``declined`` (tool name,
    arguments): how many, and the options that would have allowed them.

    ``--allow`` rules can only approve commands, and only commands a rule can describe without
    approving more than meant (``similar_rule``), and MCP tools by name; anything else needs ``--yolo``.
    """
    allow: list[str] = []
    only_yolo = False
    for tool_name, arguments in declined:
        command = arguments.get("command") if tool_name == f"{CODING_TOOL_PREFIX}execute_command" else None
        found = _rules_for(command, rules, root) if isinstance(command, str) else None
        if tool_name.startswith(TOOL_RULE_PREFIX):  # an MCP tool: a rule names it
            found = [tool_name]
        if found is None:
            only_yolo = True
            continue
        allow += [rule for rule in found if rule not in allow]
    options = " ".join(f'--allow "{rule}"' for rule in allow)
    if not allow:
        advice = "rerun with --yolo"
    elif only_yolo:
        advice = f"rerun with --yolo ({options} would allow only the commands)"
    else:
        advice = f"rerun with --yolo or {options}"
    verb = "was" if len(declined) == 1 else "were"
    return f"{plural(len(declined), 'call')} {verb} declined (headless): {advice}"


def _rules_for(command: str, rules: CommandRules, root: Path) -> list[str] | None:
    """Allow rules that would let ``command`` run (one per simple command), or None when no rule
    can (destructive, uncheckable, computed at run time, ...)."""
    found: list[str] = []
    for text in rules.decide(command, root).commands:
        rule = similar_rule(text)
        if rule is None:
            return None
        if rule not in found:
            found.append(rule)
    with_them = CommandRules(allow=rules.allow + found, deny=rules.deny)
    return found if found and with_them.decide(command, root).verdict is Verdict.ALLOW else None


# -- leaving and coming back ----------------------------------------------------------------------


def resume_hint(conversation_id: str, root: Path, cwd: Path) -> str:
    """How to continue this conversation later: ``-c`` from its project directory, ``--cid``
    from elsewhere (where another session may well be the most recent one by then)."""
    if Path(cwd).resolve() == Path(root).resolve():
        return "resume with: llm code -c"
    return f"resume with: llm code --cid {conversation_id}"


def recap(history: Iterable, conversation_id: str) -> str | None:
    """A few lines on a continued conversation: earlier turns, the first request, the last answer.
    None when the history holds no request yet."""
    requests: list[str] = []
    last_answer = ""
    for message in history:
        texts = [getattr(part, "text", None) for part in message.parts]
        text = "\n".join(t for t in texts if isinstance(t, str))
        if message.role == "user" and text.strip():
            request = request_text(text)
            if request.strip():
                requests.append(request)
        elif message.role == "assistant" and text.strip():
            last_answer = text
    if not requests:
        return None
    lines = [
        f"continuing conversation {conversation_id}: {plural(len(requests), 'earlier turn')}",
        f"  first request: {first_line(requests[0])}",
    ]
    if last_answer:
        lines.append(f"  last answer: {first_line(last_answer)}")
    return "\n".join(lines)
