"""Task metrics read back from llm's logs database (``llm code stats``).

What counts, and how it is found (only the tables llm 0.36 writes, plus ``llm_code_reviews``):

- **A session** is a logged conversation whose first turn had ``CodingTools``; its project is
  that toolbox's ``root`` (as for ``llm code -r``). A sub-agent's conversation (``delegate``,
  listed in ``llm_code_subagents``) is no session: its tasks and tokens are not counted.
- **A task** is one request of the user: a turn whose new input holds a user message in the
  user's own words (the agent's notes, its next-step hint and compaction summaries are not
  requests). The turns after it, until the next request, belong to it; their tokens are its tokens.
- **Tests after the run**: the last test command (pytest, unittest, tox, nox, npm/yarn/pnpm test,
  go test, cargo test, make test, ...) a task ran, and its exit code; a timed-out run fails; a
  declined or unsandboxable one did not run and does not count. Tasks without one are "untested".
- **Plans** (plan mode): per task with ``present_plan`` calls, "approved first time" when the
  first answered plan was approved, "revised" when one was approved after changes were asked for,
  "rejected" when none was approved.
- **Reviews**: the reviewer's verdicts (:mod:`llm_coding_agent.agent.reviewer`); an *override*
  is an approval the user declined or edited.
- **Cost**: tokens times ``prices`` (USD per million tokens by model id, from the settings);
  unknown when any turn's model has no price or reported no token counts.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from llm.parts import TextPart, ToolCallPart, ToolResultPart

from ..agent.logstore import parse_logged_time
from ..agent.mentions import request_text
from ..agent.profiles import STEP_HINTS
from ..agent.reviewer import REVIEWS_TABLE
from ..agent.subagents import subagent_conversations
from ..tools import short_tool_name

__all__ = ["TaskRecord", "read_tasks", "read_reviews", "summarize", "is_test_command", "parse_since"]

#: What separates the simple commands of a line (quotes are not parsed: a test runner named
#: inside a quoted argument starts no simple command, so it is not taken for one).
_SEPARATORS = re.compile(r"&&|\|\||[;|&()\n]")
#: What may come before the runner: variable assignments and wrappers that run it.
_WRAPPERS = re.compile(
    r"^(?:(?:\w+=\S*|sudo|time|env|nice|timeout\s+\S+|(?:uv|poetry|pipenv|hatch|pdm|rye)\s+run"
    r"|npx|bunx|pnpx|bundle\s+exec)\s+)*"
)
#: A simple command that runs a project's tests (the executable may be given with a path).
_TEST_RUNNER = re.compile(
    r"(?:[\w.~-]*/)*(?:"
    r"py\.?test|pytest-\w+|python[0-9.]*\s+(?:-\S+\s+)*-m\s+(?:pytest|unittest)|tox|nox"
    r"|(?:npm|pnpm|yarn|bun)\s+(?:run\s+)?test|jest|vitest|mocha|go\s+test|cargo\s+(?:test|nextest)"
    r"|make\s+(?:test|check)|ctest|dotnet\s+test|mix\s+test|(?:mvn|mvnw|gradle|gradlew)\s+(?:\S+\s+)*test"
    r"|rspec|phpunit|deno\s+test|hatch\s+test"
    r")(?=\s|$)"
)
_EXIT_CODE = re.compile(r"^Exit code: (-?\d+)", re.MULTILINE)
_PLAN_APPROVED = "Plan approved"


def is_test_command(command: str) -> bool:
    """Whether one of the simple commands of ``command`` runs a test suite."""
    for simple in _SEPARATORS.split(command or ""):
        if _TEST_RUNNER.match(_WRAPPERS.sub("", simple.strip(), count=1)):
            return True
    return False


def parse_since(text: str) -> datetime:
    """``YYYY-MM-DD`` (midnight, local time) or an ISO date-time; ``ValueError`` otherwise."""
    when = datetime.fromisoformat(text.strip())
    return when if when.tzinfo else when.astimezone()


@dataclass
class TaskRecord:
    """One request and what the logs say became of it."""

    conversation_id: str
    root: str
    request: str
    started: datetime | None
    #: (model id, input tokens, output tokens) of each model response of the task.
    turns: list[tuple[str, int | None, int | None]] = field(default_factory=list)
    #: The last test command the task ran, and its exit code (None: it timed out).
    test_command: str | None = None
    test_exit: int | None = None
    #: "approved_first_time", "revised", "rejected", or None (no plan presented).
    plan: str | None = None
    #: Each present_plan answer in order: "approved", "revise", "rejected".
    plan_answers: list[str] = field(default_factory=list)
    #: The task's tool calls in order: (tool call id, short name, arguments).
    calls: list[tuple[str | None, str, Any]] = field(default_factory=list)


# -- reading ------------------------------------------------------------------------------------

_TURNS = """
select t.id, t.thread_id, t.datetime_utc, t.parent_message_hash, t.tip_message_hash, t.model,
       t.input_tokens, t.output_tokens,
       (select ti.arguments from turn_tools tt join tool_instances ti on ti.id = tt.instance_id
        where tt.turn_id = t.id and ti.name = 'CodingTools' limit 1) as toolbox
from turns t
order by t.thread_id, t.datetime_utc, t.id
"""


def read_tasks(db: Any, since: datetime | None = None, root: str | None = None) -> list[TaskRecord]:
    """Every task of every ``llm code`` session in ``db`` (started at ``since`` or later; in the
    project ``root`` only, when given)."""
    try:
        rows = list(db.query(_TURNS))
    except sqlite3.OperationalError:
        return []  # a database without llm 0.36's tables holds no sessions
    threads: dict[str, list[dict]] = {}
    for row in rows:
        threads.setdefault(row["thread_id"], []).append(row)
    reader = _Reader(db)
    tasks: list[TaskRecord] = []
    subagents = subagent_conversations(db)  # delegated work, not tasks the user gave
    for thread_id, turns in threads.items():
        project = _toolbox_root(turns[0]["toolbox"])
        if project is None or (root is not None and project != root) or thread_id in subagents:
            continue
        tasks += [t for t in reader.tasks(thread_id, project, turns) if since is None or _after(t.started, since)]
    return tasks


def read_reviews(db: Any, since: datetime | None = None) -> list[dict]:
    """The rows of the reviews table (none when no review was ever logged)."""
    if REVIEWS_TABLE not in db.table_names():
        return []
    rows = list(db.query(f"select * from {REVIEWS_TABLE} order by id"))
    return [r for r in rows if since is None or _after(parse_logged_time(r.get("datetime_utc")), since)]


class _Reader:
    """Walks the messages of logged turns (cached: turns share their history)."""

    def __init__(self, db: Any):
        self.db = db
        self._messages: dict[str, tuple[str | None, str]] = {}
        from llm.logs import LogStore

        self._store = LogStore(db)

    def _message(self, hash_: str | None) -> tuple[str | None, str] | None:
        """(parent hash, role) of a message."""
        if hash_ is None:
            return None
        if hash_ not in self._messages:
            row = self.db.execute("select parent_hash, role from messages where hash = ?", [hash_]).fetchone()
            if row is None:
                return None
            self._messages[hash_] = (row[0], row[1])
        return self._messages[hash_]

    def _new_input(self, parent: str | None) -> list[str]:
        """The messages a turn added to its history: its last message, and the tool results sent
        just before it with the same request (what llm stores as a tool message, then the prompt)."""
        found = self._message(parent)
        if found is None:
            return []
        hashes = [parent]
        before = self._message(found[0])
        if found[1] == "user" and before is not None and before[1] == "tool":
            hashes.insert(0, found[0])
        return hashes

    def _own_output(self, parent: str | None, tip: str | None) -> list[str]:
        """The messages a turn's response added (from its tip back to its input)."""
        hashes: list[str] = []
        while tip is not None and tip != parent and len(hashes) < 20:
            found = self._message(tip)
            if found is None:
                break
            hashes.insert(0, tip)
            tip = found[0]
        return hashes

    def tasks(self, thread_id: str, root: str, turns: list[dict]) -> list[TaskRecord]:
        inputs = [self._new_input(t["parent_message_hash"]) for t in turns]
        outputs = [self._own_output(t["parent_message_hash"], t["tip_message_hash"]) for t in turns]
        parts = self._store._load_parts(sorted({h for hs in inputs + outputs for h in hs}))
        results: dict[str, str] = {}
        for hashes in inputs:
            for hash_ in hashes:
                for part in parts.get(hash_, []):
                    if isinstance(part, ToolResultPart) and part.tool_call_id:
                        results[part.tool_call_id] = part.output or ""
        tasks: list[TaskRecord] = []
        for turn, new_input, output in zip(turns, inputs, outputs):
            request = _request_in([p for h in new_input for p in parts.get(h, [])])
            if request is not None:
                tasks.append(TaskRecord(thread_id, root, request, parse_logged_time(turn["datetime_utc"])))
            if not tasks:
                continue  # turns before the first request (none in practice)
            task = tasks[-1]
            task.turns.append((turn["model"], turn["input_tokens"], turn["output_tokens"]))
            for hash_ in output:
                for part in parts.get(hash_, []):
                    if isinstance(part, ToolCallPart):
                        task.calls.append((part.tool_call_id, short_tool_name(part.name or ""), part.arguments))
        for task in tasks:
            _judge(task, results)
        return tasks


def _request_in(parts: list) -> str | None:
    """The user's own words among a turn's new input, if it holds a request."""
    for part in parts:
        if not isinstance(part, TextPart):
            continue
        text = part.text or ""
        if text in STEP_HINTS or text.startswith("[Summary of the earlier"):
            continue
        words = request_text(text).strip()
        if words:
            return words
    return None


def _judge(task: TaskRecord, results: dict[str, str]) -> None:
    """The task's last test run and its plan outcome, from its calls and their results."""
    for call_id, name, arguments in task.calls:
        output = results.get(call_id or "")
        if output is None:
            continue
        if name == "execute_command" and isinstance(arguments, dict) and is_test_command(str(arguments.get("command"))):
            codes = _EXIT_CODE.findall(output)
            if codes:
                task.test_command, task.test_exit = str(arguments["command"]), int(codes[-1])
            elif "timed out" in output.split("\n", 1)[0]:
                task.test_command, task.test_exit = str(arguments["command"]), None
        elif name.endswith("present_plan") and not output.startswith("Error:"):
            task.plan_answers.append(
                "approved" if output.startswith(_PLAN_APPROVED) else "rejected" if output.startswith("Cancelled:")
                else "revise"
            )
    if task.plan_answers:
        if task.plan_answers[0] == "approved":
            task.plan = "approved_first_time"
        else:
            task.plan = "revised" if "approved" in task.plan_answers else "rejected"


def _toolbox_root(arguments: str | None) -> str | None:
    try:
        root = json.loads(arguments or "").get("root")
    except (ValueError, AttributeError):
        return None
    return root if isinstance(root, str) else None


def _after(when: datetime | None, since: datetime) -> bool:
    return when is not None and when >= since


# -- summing up -----------------------------------------------------------------------------------


def summarize(tasks: list[TaskRecord], reviews: list[dict], prices: dict) -> dict:
    """Per project and overall: the numbers ``llm code stats`` prints (see the module docstring)."""
    roots = {t.conversation_id: t.root for t in tasks}
    projects = sorted({t.root for t in tasks})
    by_project = []
    for root in projects:
        mine = [t for t in tasks if t.root == root]
        by_project.append({"root": root, **_metrics(mine, [r for r in reviews if roots.get(r["conversation_id"]) == root], prices)})
    known_reviews = [r for r in reviews if r["conversation_id"] in roots]
    return {"projects": by_project, "overall": _metrics(tasks, known_reviews, prices)}


def _metrics(tasks: list[TaskRecord], reviews: list[dict], prices: dict) -> dict:
    tested = [t for t in tasks if t.test_command is not None]
    plans = [t.plan for t in tasks if t.plan]
    tokens_in = sum(i or 0 for t in tasks for _, i, _ in t.turns)
    tokens_out = sum(o or 0 for t in tasks for _, _, o in t.turns)
    usage = [(m, i, o) for t in tasks for m, i, o in t.turns]
    usage += [(r["reviewer"], r["input_tokens"], r["output_tokens"]) for r in reviews]
    cost, unpriced = _cost(usage, prices)
    return {
        "sessions": len({t.conversation_id for t in tasks}),
        "tasks": len(tasks),
        "tests": {
            "tasks_tested": len(tested),
            "passing": sum(1 for t in tested if t.test_exit == 0),
            "failing": sum(1 for t in tested if t.test_exit != 0),
            "untested": len(tasks) - len(tested),
        },
        "plans": {
            "presented": len(plans),
            "approved_first_time": plans.count("approved_first_time"),
            "revised": plans.count("revised"),
            "rejected": plans.count("rejected"),
        },
        "reviews": {
            "reviewed": len(reviews),
            "approved": sum(1 for r in reviews if r["verdict"] == "approve"),
            "rejected": sum(1 for r in reviews if r["verdict"] == "reject"),
            "no_verdict": sum(1 for r in reviews if r["verdict"] is None),
            "auto_approved": sum(1 for r in reviews if r["auto_approved"]),
            "overrides": sum(
                1 for r in reviews if r["verdict"] == "approve" and r["human_decision"] in ("declined", "edited")
            ),
        },
        "tokens": {
            "input": tokens_in,
            "output": tokens_out,
            "input_per_task": round(tokens_in / len(tasks), 1) if tasks else None,
            "output_per_task": round(tokens_out / len(tasks), 1) if tasks else None,
            "review_input": sum(r["input_tokens"] or 0 for r in reviews),
            "review_output": sum(r["output_tokens"] or 0 for r in reviews),
        },
        "cost_usd": cost,
        "cost_unknown_for": unpriced,
    }


def _cost(usage: list[tuple[str, int | None, int | None]], prices: dict) -> tuple[float | None, list[str]]:
    """USD for ``usage`` (model, input, output); None with the models lacking a price (or a token
    count) when it cannot be known."""
    total = 0.0
    unknown: list[str] = []
    for model, tokens_in, tokens_out in usage:
        price = prices.get(model)
        if price is None or tokens_in is None or tokens_out is None:
            if model not in unknown:
                unknown.append(model)
            continue
        total += (tokens_in * price["input"] + tokens_out * price["output"]) / 1_000_000
    return (None if unknown else round(total, 6)), sorted(unknown)
