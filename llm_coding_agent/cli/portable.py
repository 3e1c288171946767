"""``llm code export`` and ``llm code import``: a session as a file, and back.

JSON (the default) is the lossless format of :mod:`llm_coding_agent.agent.portable`
(``docs/session-format.md``); ``--format markdown`` is for people: the conversation as it went,
each tool call collapsed in a ``<details>`` block, edits as diffs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..agent.portable import PortableError, export_session, import_session, read_document

__all__ = ["export_command", "import_command", "export_file", "import_file", "session_markdown"]


def _logs_db():
    from llm.cli import logs_db_path, logs_on
    from llm.migrations import migrate
    import sqlite_utils

    if not logs_on():
        raise click.ClickException("logging is off (`llm logs on`): there are no sessions to export or import into")
    db = sqlite_utils.Database(logs_db_path())
    migrate(db)
    return db


def export_file(db: Any, conversation_id: str, path: str | None, format: str = "json") -> None:
    """Write the session to ``path`` (stdout when None) as JSON or Markdown."""
    document = export_session(db, conversation_id)
    text = json.dumps(document, indent=1, ensure_ascii=False) + "\n" if format == "json" else session_markdown(document)
    if path is None:
        sys.stdout.write(text)
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as ex:
        raise PortableError(f"cannot write {path}: {ex.strerror or ex}") from None


def import_file(path: str, root: str | None = None, db: Any = None) -> str:
    """Import the session exported to ``path`` into llm's logs; returns the new conversation id."""
    from .session import SessionError

    document = None
    try:
        document = read_document(path)
        return import_session(db if db is not None else _logs_db(), document, root=root)
    except PortableError as ex:
        raise SessionError(str(ex)) from None
    except click.ClickException as ex:
        raise SessionError(ex.message) from None


@click.command(name="export")
@click.argument("conversation_id", required=False, metavar="[CID]")
@click.option("-o", "--output", metavar="FILE", help="Write to FILE instead of stdout")
@click.option("--format", "format_", type=click.Choice(["json", "markdown"]), default="json", show_default=True,
              help="json: lossless, for `llm code import`; markdown: for people")
@click.option("-d", "--directory", metavar="DIR", help="Without CID: the latest session of DIR (default: here)")
def export_command(conversation_id, output, format_, directory):
    """Export a session (default: this directory's most recent one) to a file.

    \b
    llm code export -o session.json          the latest session here, lossless
    llm code export 01j... --format markdown  a given session, for reading
    llm code import session.json              back into the logs (on any machine)

    API keys and secret-looking environment values never appear in the file.
    """
    db = _logs_db()
    if conversation_id is None:
        from .sessions import recent_sessions

        root = Path(directory or ".").resolve()
        found = recent_sessions(db, root, limit=1)
        if not found:
            raise click.ClickException(f"no session in {root} (llm code sessions --all lists the others)")
        conversation_id = found[0].conversation_id
    try:
        export_file(db, conversation_id, output, format_)
    except PortableError as ex:
        raise click.ClickException(str(ex)) from None
    if output:
        click.echo(f"exported {conversation_id} to {output}", err=True)


@click.command(name="import")
@click.argument("path", metavar="FILE")
@click.option("-d", "--directory", metavar="DIR",
              help="The project directory to work in (default: the exported one)")
def import_command(path, directory):
    """Import a session exported with `llm code export`; prints its new conversation id.

    \b
    llm code import session.json             then: llm code --cid ID
    """
    from .session import SessionError

    if directory is not None and not Path(directory).is_dir():
        raise click.ClickException(f"directory does not exist: {directory}")
    db = _logs_db()
    try:
        conversation_id = import_file(path, root=directory, db=db)
    except SessionError as ex:
        raise click.ClickException(str(ex)) from None
    click.echo(conversation_id)
    root = _imported_root(db, conversation_id)
    where = f" (it works in {root})" if root else " (its directory does not exist here: add -d DIR)"
    click.echo(f"continue it with: llm code --cid {conversation_id}{where}", err=True)


def _imported_root(db: Any, conversation_id: str) -> str | None:
    """The project directory an imported session will work in, if it exists here."""
    row = db.execute(
        "select ti.arguments from turns t join turn_tools tt on tt.turn_id = t.id join tool_instances ti "
        "on ti.id = tt.instance_id where t.thread_id = ? and ti.name = 'CodingTools' order by t.id limit 1",
        [conversation_id],
    ).fetchone()
    try:
        root = json.loads(row[0]).get("root") if row else None
    except (ValueError, AttributeError):
        return None
    return root if isinstance(root, str) and Path(root).is_dir() else None


# -- Markdown -----------------------------------------------------------------------------------


def session_markdown(document: dict) -> str:
    """The session for people: its requests and answers in order, tool calls collapsed."""
    conversation = document.get("conversation") or {}
    messages = document["messages"]
    chain, tip = [], document["tip"]
    while tip is not None:
        chain.append(messages[tip])
        tip = messages[tip]["parent"]
    chain.reverse()
    turns = document["turns"]
    tokens = sum((t.get("input_tokens") or 0) + (t.get("output_tokens") or 0) for t in turns)
    lines = [
        f"# Session {conversation.get('id', '')}", "",
        f"- model: {conversation.get('model')}", f"- directory: {conversation.get('root')}",
        f"- started: {conversation.get('started')}", f"- model calls: {len(turns)} · tokens: {tokens:,}", "",
    ]
    state = document.get("state") or {}
    if state.get("todos"):
        marks = {"completed": "[x]", "in_progress": "[~]", "pending": "[ ]"}
        lines += ["## Todo list", ""] + [f"- {marks.get(t['status'], '[ ]')} {t['step']}" for t in state["todos"]] + [""]
    results = {p.get("tool_call_id"): p for m in chain for p in m["parts"] if p.get("type") == "tool_result"}
    for message in chain:
        role = message["role"]
        for part in message["parts"]:
            kind = part.get("type")
            if kind == "text" and part.get("text", "").strip():
                if role == "system":
                    lines += ["<details><summary>System prompt</summary>", "", _fence(part["text"]), "", "</details>", ""]
                elif role == "user":
                    lines += _request_markdown(part["text"])
                else:
                    lines += ["## Assistant", "", part["text"].strip(), ""]
            elif kind == "tool_call":
                lines += _tool_call_markdown(part, results.get(part.get("tool_call_id")))
    return "\n".join(lines).rstrip() + "\n"


def _request_markdown(text: str) -> list[str]:
    """The user's own words; what the agent sent with them (attached files, notes) collapsed."""
    from ..agent.mentions import request_text

    own = request_text(text).strip()
    lines = ["## You", "", own or "(a message from the agent)", ""]
    if own != text.strip():
        lines += ["<details><summary>as sent to the model</summary>", "", _fence(text), "", "</details>", ""]
    return lines


def _tool_call_markdown(call: dict, result: dict | None) -> list[str]:
    from ..tools import short_tool_name

    name = short_tool_name(str(call.get("name")))
    arguments = call.get("arguments") if isinstance(call.get("arguments"), dict) else {}
    subject = arguments.get("path") or arguments.get("command") or arguments.get("pattern") or ""
    output = (result or {}).get("output") or "(no result logged: it goes with the next request)"
    status = "error" if output.startswith("Error:") else "declined" if output.startswith("Cancelled:") else "ok"
    summary = f"{name} {str(subject)[:80]}".strip() + f" → {status}"
    lines = [f"<details><summary>{_escape(summary)}</summary>", ""]
    shown = {k: v for k, v in arguments.items() if not (name == "write_file" and k == "content")}
    lines += [_fence(json.dumps(shown, indent=1, ensure_ascii=False), "json"), ""]
    if name == "write_file" and isinstance(arguments.get("content"), str):
        lines += [_fence(arguments["content"]), ""]
    if name == "edit_file" and status == "ok":
        lines += [_fence("\n".join(output.splitlines()[1:]) or output, "diff"), ""]
    else:
        lines += [_fence(output), ""]
    return lines + ["</details>", ""]


def _fence(text: str, language: str = "") -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{language}\n{text.rstrip()}\n{ticks}"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
