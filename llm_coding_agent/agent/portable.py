"""Portable sessions: a logged conversation as one JSON document, and back into the logs.

The document (``docs/session-format.md`` describes every field) is lossless for everything a
continued session is built from: every message of every turn (system prompt, requests, answers,
tool calls with their ids and arguments, tool results, attachments, compaction summaries), kept as
a tree like llm's own content-addressed store, so a compacted session keeps the turns before its
summary too; each turn's model, options, token counts and time; the tools each turn offered, with
the configuration of their toolbox (``CodingTools``' root). :func:`import_session` writes the same
messages (so the same hashes), a new thread and its turns: continuing the imported conversation
sends the model exactly what continuing the original would have sent.

The todo list and plan mode are derived from the messages (as ``CodingAgent.load`` recovers
them) and written under ``state`` for readers and tools; importing recovers them from the
messages again. Exported text never holds llm's stored API keys or the values of secret-looking
environment variables: they are replaced by ``[redacted]`` (``redacted`` counts them).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from llm.parts import Message

from ..errors import CodingAgentError
from ..tools import short_tool_name
from ..tools.shell import redact, secret_values
from ..tools.todo import TODO_TOOL, parse_todo_text, parse_todo_update
from .context import SUMMARY_HEADER

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "PortableError",
    "export_session",
    "import_session",
    "check_document",
    "read_document",
    "session_state",
]

#: The ``format`` value of an exported session.
FORMAT = "llm-code-session"
#: The version this code writes and the newest it reads.
FORMAT_VERSION = 1


class PortableError(CodingAgentError):
    """A session that cannot be exported, or a file that cannot be imported (one line)."""


# -- export ------------------------------------------------------------------------------------


def export_session(db: Any, conversation_id: str) -> dict:
    """The logged conversation ``conversation_id`` of ``db`` as a document (see the module)."""
    from llm.logs import LogStore

    thread = db.execute(
        "select id, name, tip_message_hash, datetime_utc from threads where id = ?", [conversation_id]
    ).fetchone()
    if thread is None:
        raise PortableError(f"no logged session {conversation_id}")
    turn_rows = db.execute(
        "select id, parent_message_hash, tip_message_hash, model, resolved_model, options_json, input_tokens, "
        "output_tokens, token_details, duration_ms, datetime_utc from turns where thread_id = ? order by id",
        [conversation_id],
    ).fetchall()
    if not turn_rows:
        raise PortableError(f"session {conversation_id} has no logged turns")
    graph = _MessageGraph(LogStore(db))
    for row in turn_rows:
        graph.add(row[1])
        graph.add(row[2])
    graph.add(thread[2])
    tools, turn_tools = _tools(db, [row[0] for row in turn_rows])
    turns = [
        {
            "parent": graph.index.get(row[1]), "tip": graph.index[row[2]], "model": row[3],
            "resolved_model": row[4], "options": _json(row[5]) or {}, "input_tokens": row[6],
            "output_tokens": row[7], "token_details": _json(row[8]), "duration_ms": row[9],
            "datetime_utc": row[10], "tools": turn_tools.get(row[0], []),
        }
        for row in turn_rows
    ]
    tip = graph.index[thread[2]]
    chain = graph.chain(tip)
    document = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "conversation": {
            "id": thread[0], "name": thread[1], "started": thread[3] or turns[0]["datetime_utc"],
            "model": turns[-1]["model"], "options": turns[-1]["options"], "root": _root(tools, turns[0]["tools"]),
        },
        "system": next((_text(m) for m in chain if m["role"] == "system"), None),
        "state": session_state(chain),
        "tip": tip,
        "messages": graph.messages,
        "turns": turns,
        "tools": tools,
    }
    document, count = _redacted(document, secret_values())
    document["redacted"] = count
    return document


class _MessageGraph:
    """Messages of several chains, each stored once, parents before children."""

    def __init__(self, store: Any):
        self.store = store
        self.index: dict[str, int] = {}
        self.messages: list[dict] = []

    def add(self, tip: str | None) -> None:
        """Add the chain ending at ``tip`` (the messages not added yet)."""
        rows = []
        hash_ = tip
        while hash_ is not None and hash_ not in self.index:
            row = self.store.db.execute(
                "select hash, parent_hash, role, provider_metadata from messages where hash = ?", [hash_]
            ).fetchone()
            if row is None:
                raise PortableError(f"the logs are missing message {hash_}")
            rows.append(row)
            hash_ = row[1]
        rows.reverse()
        parts = self.store._load_parts([row[0] for row in rows])
        for hash_, parent, role, metadata in rows:
            message = Message(role=role, parts=parts.get(hash_, []), provider_metadata=_json(metadata))
            entry = {"id": len(self.messages), "parent": self.index.get(parent) if parent else None}
            entry.update(_with_attachment_content(message.to_dict()))
            self.index[hash_] = entry["id"]
            self.messages.append(entry)

    def chain(self, tip: int | None) -> list[dict]:
        out = []
        while tip is not None:
            out.append(self.messages[tip])
            tip = self.messages[tip]["parent"]
        return out[::-1]


def _with_attachment_content(message: dict) -> dict:
    """Attachments that only name a file get its bytes too, so the file travels with the
    session (the hash is of the bytes either way)."""
    for part in message.get("parts", []):
        found = ([part["attachment"]] if isinstance(part.get("attachment"), dict) else []) + [
            a for a in part.get("attachments", []) if isinstance(a, dict)
        ]
        for attachment in found:
            if attachment.get("path") and not attachment.get("content"):
                try:
                    attachment["content"] = base64.b64encode(Path(attachment["path"]).read_bytes()).decode("ascii")
                except OSError:
                    pass
    return message


def _tools(db: Any, turn_ids: list[str]) -> tuple[list[dict], dict[str, list[int]]]:
    marks = ", ".join("?" * len(turn_ids))
    rows = db.execute(
        "select tt.turn_id, t.hash, t.name, t.description, t.input_schema, t.plugin, ti.name, ti.plugin, "
        f"ti.arguments from turn_tools tt join tools t on t.id = tt.tool_id left join tool_instances ti "
        f"on ti.id = tt.instance_id where tt.turn_id in ({marks}) order by tt.rowid",
        turn_ids,
    ).fetchall()
    tools: list[dict] = []
    known: dict[tuple, int] = {}
    per_turn: dict[str, list[int]] = {}
    for turn_id, hash_, name, description, schema, plugin, i_name, i_plugin, i_arguments in rows:
        key = (hash_, i_name, i_plugin, i_arguments)
        if key not in known:
            known[key] = len(tools)
            instance = None if i_name is None else {"name": i_name, "plugin": i_plugin, "arguments": _json(i_arguments)}
            tools.append({"hash": hash_, "name": name, "description": description,
                          "input_schema": _json(schema), "plugin": plugin, "instance": instance})
        per_turn.setdefault(turn_id, []).append(known[key])
    return tools, per_turn


def _root(tools: list[dict], used: list[int]) -> str | None:
    for index in used:
        instance = tools[index]["instance"]
        if instance and instance["name"] == "CodingTools" and isinstance(instance["arguments"], dict):
            return instance["arguments"].get("root")
    return None


def session_state(chain: list[dict]) -> dict:
    """The todo list and plan mode as the messages of ``chain`` (dicts) leave them: the last good
    ``update_todos`` call, an approved plan, the plan-mode note, or what a compaction summary kept."""
    from .planning import PINNED, PLAN_MODE_NOTE, PRESENT_PLAN, split_steps

    results = {p.get("tool_call_id"): p.get("output") or "" for m in chain for p in m["parts"] if p.get("type") == "tool_result"}
    planning, todos, plan = False, None, None
    for message in chain:
        for part in message["parts"]:
            if part.get("type") == "text" and message["role"] == "user":
                text = part.get("text") or ""
                if text.startswith(SUMMARY_HEADER):
                    pinned = text.rsplit(PINNED, 1)[1] if PINNED in text else ""
                    planning = "Plan mode is on" in pinned
                    todos = [item.as_dict() for item in parse_todo_text(pinned)]
                elif PLAN_MODE_NOTE in text:
                    planning = True
            elif part.get("type") == "tool_call":
                output = results.get(part.get("tool_call_id"), "")
                if not output or output.startswith(("Error:", "Cancelled:")):
                    continue
                name = short_tool_name(str(part.get("name")))
                if name == TODO_TOOL:
                    try:
                        todos = [i.as_dict() for i in parse_todo_update((part.get("arguments") or {}).get("plan"))]
                    except CodingAgentError:
                        pass
                elif name == PRESENT_PLAN and output.startswith("Plan approved"):
                    planning, plan = False, split_steps(output.split("The plan:", 1)[-1])
                    todos = [{"step": step, "status": "pending"} for step in plan]
    return {"todos": todos or [], "planning": planning, "plan": plan}


def _redacted(document: dict, secrets: list[str]) -> tuple[dict, int]:
    """``document`` with every secret replaced in its text, and how many strings changed."""
    secrets = [s for s in secrets if isinstance(s, str) and len(s) >= 8]
    if not secrets:
        return document, 0
    count = 0

    def walk(value: Any) -> Any:
        nonlocal count
        if isinstance(value, str):
            cleaned = redact(value, secrets)
            count += cleaned != value
            return cleaned
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    return walk(document), count


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _text(message: dict) -> str:
    return "\n".join(p.get("text") or "" for p in message["parts"] if p.get("type") == "text")


# -- reading and importing ------------------------------------------------------------------------


def read_document(path: str | Path) -> dict:
    """The checked document in ``path``; a one-line :class:`PortableError` otherwise."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as ex:
        raise PortableError(f"cannot read {path}: {ex.strerror or ex}") from None
    try:
        document = json.loads(text)
    except ValueError as ex:
        raise PortableError(f"{path} is damaged: not valid JSON ({ex.msg} at line {ex.lineno})") from None
    if isinstance(document, list) and all(isinstance(i, dict) and "response" in i for i in document):
        raise PortableError(
            f"{path} is an llm-loop export: it keeps no tool results or system prompt, so it cannot be "
            "continued exactly; start a new run with the task instead"
        )
    try:
        check_document(document)
    except PortableError as ex:
        raise PortableError(f"{path}: {ex}") from None
    return document


def check_document(document: Any) -> None:
    """Raise :class:`PortableError` unless ``document`` is a session this version can import."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise PortableError(f"not an exported session (no \"format\": \"{FORMAT}\")")
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise PortableError("damaged session file: \"version\" must be a positive whole number")
    if version > FORMAT_VERSION:
        raise PortableError(
            f"written by a newer llm-coding-agent (session format {version}; this one reads up to "
            f"{FORMAT_VERSION}): upgrade llm-coding-agent to import it"
        )
    messages, turns, tools = document.get("messages"), document.get("turns"), document.get("tools")
    if not isinstance(messages, list) or not messages or not isinstance(turns, list) or not turns \
            or not isinstance(tools, list):
        raise PortableError("damaged session file: it needs non-empty \"messages\" and \"turns\", and \"tools\"")
    for number, message in enumerate(messages):
        parent = message.get("parent") if isinstance(message, dict) else "?"
        if not isinstance(message, dict) or message.get("id") != number or not isinstance(message.get("parts"), list) \
                or not isinstance(message.get("role"), str) or not _index(parent, number, allow_none=True):
            raise PortableError(f"damaged session file: message {number} is malformed")
    if not _index(document.get("tip"), len(messages)):
        raise PortableError("damaged session file: \"tip\" names no message")
    for number, turn in enumerate(turns):
        if not isinstance(turn, dict) or not _index(turn.get("tip"), len(messages)) \
                or not _index(turn.get("parent"), len(messages), allow_none=True) or not isinstance(turn.get("model"), str) \
                or not all(_index(t, len(tools)) for t in turn.get("tools", [])):
            raise PortableError(f"damaged session file: turn {number + 1} is malformed")
    for number, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not isinstance(tool.get("hash"), str):
            raise PortableError(f"damaged session file: tool {number} is malformed")


def _index(value: Any, below: int, allow_none: bool = False) -> bool:
    if value is None:
        return allow_none
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < below


def import_session(db: Any, document: dict, root: str | None = None) -> str:
    """Write ``document`` into ``db`` as a new conversation; returns its id. ``root``: the project
    directory to use instead of the exported one (the toolbox's logged root)."""
    from llm.logs import TURN_SEARCH_INSERT_SQL, LogStore, monotonic_ulid
    from llm.utils import ensure_tool_instance

    check_document(document)
    store = LogStore(db)
    with db.atomic():
        hashes: list[str] = []
        for entry in document["messages"]:
            try:
                message = Message.from_dict(entry)
            except (KeyError, TypeError, ValueError) as ex:
                raise PortableError(f"damaged session file: message {entry['id']} cannot be read ({ex})") from None
            parent = hashes[entry["parent"]] if entry["parent"] is not None else None
            hashes.append(store.ensure_chain([message], parent=parent))
        conversation = document.get("conversation") or {}
        thread_id = store.create_thread(name=conversation.get("name"), tip=hashes[document["tip"]])
        tool_ids, instance_ids = [], []
        for tool in document["tools"]:
            db.execute(
                "insert into tools (hash, name, description, input_schema, plugin) values (?, ?, ?, ?, ?) "
                "on conflict(hash) do nothing",
                [tool["hash"], tool["name"], tool.get("description"), json.dumps(tool.get("input_schema")), tool.get("plugin")],
            )
            tool_ids.append(db.execute("select id from tools where hash = ?", [tool["hash"]]).fetchone()[0])
            instance = tool.get("instance")
            if instance:
                arguments = instance.get("arguments")
                if root is not None and instance.get("name") == "CodingTools" and isinstance(arguments, dict):
                    arguments = {**arguments, "root": str(Path(root).resolve())}
                instance_ids.append(ensure_tool_instance(db, instance.get("name"), instance.get("plugin"), json.dumps(arguments)))
            else:
                instance_ids.append(None)
        for turn in document["turns"]:
            turn_id = str(monotonic_ulid()).lower()
            db["turns"].insert({
                "id": turn_id, "thread_id": thread_id,
                "parent_message_hash": hashes[turn["parent"]] if turn.get("parent") is not None else None,
                "tip_message_hash": hashes[turn["tip"]], "model": turn["model"],
                "resolved_model": turn.get("resolved_model"), "options_json": json.dumps(turn.get("options") or {}),
                "input_tokens": turn.get("input_tokens"), "output_tokens": turn.get("output_tokens"),
                "token_details": json.dumps(turn["token_details"]) if turn.get("token_details") else None,
                "duration_ms": turn.get("duration_ms"), "datetime_utc": turn.get("datetime_utc"),
            })
            for index in turn.get("tools", []):
                db["turn_tools"].insert(
                    {"turn_id": turn_id, "tool_id": tool_ids[index], "instance_id": instance_ids[index]}, replace=True
                )
            db.execute(TURN_SEARCH_INSERT_SQL, {"turn_id": turn_id})
    return thread_id
