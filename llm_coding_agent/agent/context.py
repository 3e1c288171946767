"""Context management: a token budget per model, and compaction that keeps a session inside it.

Tokens are counted from what the model reports (``response.usage()``); where nothing is reported
they are estimated as characters / 4, scaled by the ratio seen in the last reported request, and
always labelled "estimated". Compaction, cheapest first:

1. old tool results are shortened to a head plus a note saying how to get the content again;
2. older turns are replaced by a structured summary written by the model (task, decisions, files
   touched, what is left), followed by the latest user request verbatim;
3. only if the recent turns alone are still too big, their tool results are shortened too.

The system prompt and the most recent rounds stay verbatim, and a tool call is never separated from
its result (providers reject orphans): the history is only ever cut just before an assistant
message whose calls are all answered by the following tool message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Iterable

from llm.parts import Message, ReasoningPart, TextPart, ToolCallPart, ToolResultPart

__all__ = [
    "context_window",
    "estimate_tokens",
    "ContextBudget",
    "CompactionReport",
    "KNOWN_WINDOWS",
    "DEFAULT_WINDOW",
    "mechanical_summary",
    "truncate_results",
    "SUMMARY_HEADER",
    "window_for",
    "tools_overhead",
]

#: Context windows (tokens) by model id prefix, longest prefix wins. Override with
#: ``context_window=`` or the ``context_window`` setting.
KNOWN_WINDOWS: dict[str, int] = {
    "gpt-4.1": 1_000_000,
    "gpt-4o": 128_000,
    "gpt-5": 400_000,
    "o1": 200_000,
    "o3": 200_000,
    "o4": 200_000,
    "chatgpt-4o": 128_000,
    "claude": 200_000,
    "anthropic/claude": 200_000,
    "gemini": 1_000_000,
    "mistral": 32_000,
    "local-qwen": 16_384,
    "code-local": 16_384,
    "qwen": 32_768,
    "llama": 8_192,
}
#: How the message that replaces the summarised part of a history begins.
#: Tools whose results are never shortened: an activated skill's instructions (agent/skills.py)
#: apply for the rest of the conversation.
WHOLE_RESULTS = ("activate_skill",)
SUMMARY_HEADER = "[Summary of the earlier part of this session, written when the context was compacted]"

#: Window assumed for models not listed: small on purpose (compacting early is cheaper than a
#: context-overflow error).
DEFAULT_WINDOW = 16_384

SUMMARY_INSTRUCTIONS = """\
You are compacting the transcript of a coding session so the work can continue in a smaller
context. Write a structured summary with exactly these sections:

## Task
What the user asked for (all requests, in order; quote the exact wording of constraints).
## Decisions
Choices made and why; conventions to follow; user preferences and corrections.
## Files
Each file read, created or changed, with what was done to it (keep exact paths).
## State
What has been verified (tests run and their results) and what failed.
## Remaining
What is left to do, as a checklist.

Be specific: exact paths, function names, commands and error messages. Do not invent anything.
Output only the summary."""


def context_window(model_id: str, override: int | None = None) -> int:
    """The context window for ``model_id``: the override, a known default, or DEFAULT_WINDOW."""
    if override:
        return int(override)
    best = ""
    for prefix in KNOWN_WINDOWS:
        if model_id.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return KNOWN_WINDOWS[best] if best else DEFAULT_WINDOW


def window_for(model, override: int | None) -> int:
    """The context window of an llm model (its id looked up in :data:`KNOWN_WINDOWS`)."""
    return context_window(getattr(model, "model_id", "") or "", override)


def tools_overhead(tools) -> int:
    """Tokens the tool schemas add to every request (estimated)."""
    return sum(len(t.name) + len(t.description or "") + len(json.dumps(t.input_schema)) for t in tools) // 4


def _part_chars(part) -> int:
    if isinstance(part, (TextPart, ReasoningPart)):
        return len(part.text or "")
    if isinstance(part, ToolCallPart):
        return len(part.name or "") + len(json.dumps(part.arguments or {}, default=str))
    if isinstance(part, ToolResultPart):
        return len(part.output or "") + len(part.name or "")
    return 200  # attachments and unknown parts: a flat guess


_CACHE_ATTR = "_llm_code_token_estimate"


def _message_tokens(message: Message) -> int:
    # Histories are re-estimated every round and only grow: remembering each message's estimate
    # on the message keeps a long session's bookkeeping linear. Messages are never mutated in
    # place (compaction builds new ones), so the cached value stays right.
    cached = getattr(message, _CACHE_ATTR, None)
    if cached is None:
        cached = 4 + sum(3 + _part_chars(part) // 4 for part in message.parts)
        try:
            setattr(message, _CACHE_ATTR, cached)
        except AttributeError:  # a message type with __slots__: just don't cache
            pass
    return cached


def estimate_tokens(messages: Iterable[Message]) -> int:
    """Characters / 4, plus a few tokens of framing per message and part."""
    return sum(_message_tokens(m) for m in messages)


@dataclass
class CompactionReport:
    """What one compaction did."""

    tokens_before: int
    tokens_after: int
    results_shortened: int = 0
    messages_summarised: int = 0
    summary: str = ""

    @property
    def saved(self) -> int:
        return max(0, self.tokens_before - self.tokens_after)

    def describe(self) -> str:
        bits = []
        if self.results_shortened:
            bits.append(f"{self.results_shortened} old tool results shortened")
        if self.messages_summarised:
            bits.append(f"{self.messages_summarised} messages summarised")
        return (
            f"compacted context: {self.tokens_before:,} → {self.tokens_after:,} tokens"
            + (f" ({', '.join(bits)})" if bits else "")
        )


def _is_user_text(message: Message) -> bool:
    return message.role == "user" and any(isinstance(p, TextPart) and p.text for p in message.parts)


def _cut_points(messages: list[Message]) -> list[int]:
    """Indices where the history may be cut: before an assistant message (its calls and their
    results then stay together after the cut) or before a user request."""
    return [i for i, m in enumerate(messages) if i > 0 and (m.role == "assistant" or _is_user_text(m))]


def _call_index(messages: list[Message]) -> dict[str, ToolCallPart]:
    return {
        p.tool_call_id: p
        for m in messages
        for p in m.parts
        if isinstance(p, ToolCallPart) and p.tool_call_id
    }


def _shorten_output(output: str, keep: int, how_to_get_again: str) -> str:
    if len(output) <= keep + 200:
        return output
    return (
        output[:keep].rstrip()
        + f"\n[... {len(output) - keep:,} characters removed to save context; {how_to_get_again}]"
    )


def _again_hint(call: ToolCallPart | None, name: str) -> str:
    if call is None:
        return f"call {name} again if you need them"
    args = json.dumps(call.arguments or {}, default=str)
    if len(args) > 200:
        args = args[:200] + "…"
    return f"call {call.name} with {args} again if you need them"


def shorten_tool_results(
    messages: list[Message], start: int, end: int, keep: int = 300
) -> tuple[list[Message], int]:
    """Copy of ``messages`` with tool results in ``[start, end)`` cut to ``keep`` characters."""
    calls = _call_index(messages)
    out, count = [], 0
    for i, message in enumerate(messages):
        if start <= i < end and message.role == "tool":
            parts = []
            for part in message.parts:
                whole = str(part.name or "").endswith(WHOLE_RESULTS) if isinstance(part, ToolResultPart) else True
                if not whole and len(part.output or "") > keep + 200:
                    hint = _again_hint(calls.get(part.tool_call_id or ""), part.name)
                    part = ToolResultPart(
                        name=part.name,
                        output=_shorten_output(part.output, keep, hint),
                        tool_call_id=part.tool_call_id,
                        server_executed=part.server_executed,
                        exception=part.exception,
                        provider_metadata=part.provider_metadata,
                    )
                    count += 1
                parts.append(part)
            message = Message(role=message.role, parts=parts, provider_metadata=message.provider_metadata)
        out.append(message)
    return out, count


def render_transcript(messages: list[Message], max_chars: int) -> str:
    """A plain-text transcript for the summariser, long tool outputs cut, total capped (keeping
    the beginning and the end, where the task and the latest state are)."""
    lines = []
    for message in messages:
        for part in message.parts:
            if isinstance(part, TextPart) and part.text:
                lines.append(f"{message.role.upper()}: {part.text}")
            elif isinstance(part, ToolCallPart):
                lines.append(f"TOOL CALL {part.name} {json.dumps(part.arguments or {}, default=str)[:500]}")
            elif isinstance(part, ToolResultPart):
                output = part.output or ""
                if len(output) > 1500:
                    output = output[:1000] + f"\n[... {len(output) - 1000} characters not shown]"
                lines.append(f"TOOL RESULT {part.name}: {output}")
    text = "\n".join(lines)
    if len(text) > max_chars:
        half = max_chars // 2
        text = text[:half] + "\n[... middle of the transcript omitted ...]\n" + text[-half:]
    return text


@dataclass
class ContextBudget:
    """The token budget of one model, and the compaction that keeps requests inside it."""

    window: int
    #: Tokens kept free for the model's answer.
    reserve: int = 0
    #: Compact when a request would use more than this share of the usable budget.
    threshold: float = 0.85
    #: Tool rounds (assistant calls + results) kept verbatim at the end of the history.
    keep_rounds: int = 3
    #: Tokens of tool schemas and framing sent with every request (measured once tools are known).
    overhead: int = 0
    #: Reported/estimated token ratio from the last request that reported usage.
    ratio: float = 1.0
    #: Tokens in the last request: (count, "reported" | "estimated").
    last_request: tuple[int, str] = (0, "estimated")
    compactions: list[CompactionReport] = field(default_factory=list)

    def __post_init__(self):
        if not self.reserve:
            self.reserve = min(4096, self.window // 4)

    @property
    def usable(self) -> int:
        return self.window - self.reserve

    @property
    def limit(self) -> int:
        return int(self.usable * self.threshold)

    def tokens(self, messages: Iterable[Message]) -> int:
        """Calibrated estimate of the tokens ``messages`` (plus tools) take in a request."""
        return int((estimate_tokens(messages) + self.overhead) * self.ratio)

    def observe(self, messages: list[Message], reported_input: int | None) -> None:
        """Learn from a request: its reported input tokens calibrate later estimates."""
        estimate = estimate_tokens(messages) + self.overhead
        if reported_input:
            self.ratio = min(3.0, max(0.5, reported_input / max(1, estimate)))
            self.last_request = (reported_input, "reported")
        else:
            self.last_request = (int(estimate * self.ratio), "estimated")

    def fits(self, messages: list[Message], incoming: int = 0) -> bool:
        return self.tokens(messages) + incoming <= self.limit

    def compact(
        self,
        messages: list[Message],
        incoming: int,
        summarize: Callable[[str], str] | None,
        force: bool = False,
        focus: str | None = None,
        pinned: str = "",
    ) -> tuple[list[Message], CompactionReport | None]:
        """``messages`` made to fit with ``incoming`` more tokens, or unchanged when they fit.
        ``pinned`` is text the summary must carry verbatim (plan mode, the todo list)."""
        before = self.tokens(messages) + incoming
        if not force and before <= self.limit:
            return messages, None
        report = CompactionReport(tokens_before=before, tokens_after=before)
        tail = self._tail_start(messages)

        # 1. Shorten tool results before the verbatim tail.
        compacted, report.results_shortened = shorten_tool_results(messages, 0, tail)
        # 2. Summarise everything between the system prompt and the tail.
        if (force or not self.fits(compacted, incoming)) and summarize is not None:
            compacted, report.messages_summarised, report.summary = self._summarise(
                compacted, tail, summarize, focus, pinned
            )
            tail = self._tail_start(compacted)
        # 3. Still too big: the recent rounds' results go too, the latest round's last.
        if not self.fits(compacted, incoming):
            last_round = self._tail_start(compacted, rounds=1)
            compacted, n = shorten_tool_results(compacted, 0, last_round, keep=200)
            report.results_shortened += n
        if not self.fits(compacted, incoming):
            compacted, n = shorten_tool_results(compacted, 0, len(compacted), keep=200)
            report.results_shortened += n
        report.tokens_after = self.tokens(compacted) + incoming
        self.compactions.append(report)
        return compacted, report

    def _tail_start(self, messages: list[Message], rounds: int | None = None) -> int:
        """Index where the verbatim tail begins: the last ``keep_rounds`` rounds."""
        rounds = self.keep_rounds if rounds is None else rounds
        points = _cut_points(messages)
        if not points:
            return len(messages)
        return points[-rounds] if len(points) >= rounds else points[0]

    def _summarise(
        self, messages: list[Message], tail: int, summarize: Callable[[str], str], focus: str | None,
        pinned: str = "",
    ) -> tuple[list[Message], int, str]:
        head = 1 if messages and messages[0].role == "system" else 0
        old = messages[head:tail]
        if not old:
            return messages, 0, ""
        latest_request = next(
            (m for m in reversed(messages) if _is_user_text(m) and not _is_summary(m)), None
        )
        instructions = SUMMARY_INSTRUCTIONS
        if focus:
            instructions += f"\nPay particular attention to: {focus}"
        transcript = render_transcript(old, max_chars=max(4000, self.usable * 2))
        summary = summarize(instructions + "\n\n<transcript>\n" + transcript + "\n</transcript>").strip()
        text = SUMMARY_HEADER + "\n" + summary
        if latest_request is not None and messages.index(latest_request) < tail:
            request_text = "\n".join(p.text for p in latest_request.parts if isinstance(p, TextPart))
            text += "\n\n[The user's latest request, verbatim]\n" + request_text
        if pinned:
            text += "\n\n" + pinned
        new = messages[:head] + [Message(role="user", parts=[TextPart(text=text)])]
        rest = messages[tail:]
        if rest and rest[0].role == "user":
            # Two user messages in a row are merged: some providers insist on alternation.
            merged = Message(role="user", parts=new[-1].parts + rest[0].parts)
            new[-1] = merged
            rest = rest[1:]
        return new + rest, len(old), summary


def _is_summary(message: Message) -> bool:
    return any(
        isinstance(p, TextPart) and p.text.startswith(SUMMARY_HEADER)
        for p in message.parts
    )


def truncate_results(results, room_tokens: int) -> int:
    """Shorten fresh tool results in place so they fit ``room_tokens``; returns how many."""
    total = sum(len(r.output or "") for r in results) // 4
    if total <= room_tokens or not results:
        return 0
    share = max(200, room_tokens * 4 // len(results))
    count = 0
    for r in results:
        if len(r.output or "") > share + 200:
            r.output = _shorten_output(
                r.output, share, "the output was too large for the context window; narrow the call"
            )
            count += 1
    return count


def mechanical_summary(request_text: str) -> str:
    """A summary built without the model: the user's messages and the tool calls, from the
    transcript embedded in a summarisation request."""
    transcript = request_text.split("<transcript>", 1)[-1].split("</transcript>", 1)[0]
    users, calls = [], []
    for line in transcript.splitlines():
        if line.startswith("USER: "):
            users.append(line[6:][:500])
        elif line.startswith("TOOL CALL "):
            calls.append(line[10:][:200])
    out = ["## Task"] + [f"- {u}" for u in users] + ["## Tool calls made"] + [f"- {c}" for c in calls[-40:]]
    return "\n".join(out)
