"""This directory's recent sessions, read from llm's logs database (``llm code -r``, ``!resume``).

A session belongs to the directory its first turn's ``CodingTools`` were logged with (the
toolbox's ``root`` argument, as :func:`~llm_coding_agent.agent.logstore.logged_root` reads it),
so the list holds exactly the conversations ``llm code -c`` would continue here with their own
project root. Only the tables llm 0.36 writes (``threads``, ``turns``, ``messages``...) are read;
a database without them has no sessions to list. :class:`ResumeSession` is the part of the
session that offers them and switches to the one picked.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from ..agent.logstore import parse_logged_time
from ..agent.subagents import subagent_conversations
from .messages import clip, first_line, plural, request_text

__all__ = ["LoggedSession", "ResumeSession", "recent_sessions", "age", "session_line", "sessions_list", "MAX_SESSIONS", "sessions_command"]

#: Sessions offered at most, newest first.
MAX_SESSIONS = 20

#: The user messages of a thread, oldest first: the chain from its tip, each message's text
#: (a long text is stored as a fragment, as llm's own ``message_tree`` view reads it).
_USER_TEXTS = """
with recursive chain(hash, parent_hash, role, depth) as (
    select hash, parent_hash, role, 0 from messages where hash = :tip
    union all
    select m.hash, m.parent_hash, m.role, chain.depth + 1
    from messages m join chain on m.hash = chain.parent_hash
)
select coalesce(nullif(p.text, ''), (
    select f.content from part_fragments pf join fragments f on f.id = pf.fragment_id
    where pf.part_id = p.id order by pf."order" limit 1
)) as text
from chain join parts p on p.message_hash = chain.hash and p.type = 'text'
where chain.role = 'user'
order by chain.depth desc, p.position
"""


@dataclass
class LoggedSession:
    """One logged conversation: what the picker shows of it."""

    conversation_id: str
    last_active: datetime | None
    model: str
    requests: int
    first_request: str
    started: datetime | None = None
    tokens: int = 0
    root: str | None = None


def recent_sessions(db: Any, root: str | Path | None, limit: int = MAX_SESSIONS,
                    exclude: str | None = None) -> list[LoggedSession]:
    """The conversations that worked in ``root`` (None: in any directory), most recently active
    first, at most ``limit`` (``exclude``: a conversation id to leave out, the one running now)."""
    wanted = str(Path(root).resolve()) if root is not None else None
    try:
        instances = {
            row[0]: logged for row in db.execute(
                "select id, arguments from tool_instances where name = 'CodingTools'"
            ).fetchall()
            if (logged := _logged_root(row[1])) is not None and wanted in (None, logged)
        }
        if not instances:
            return []
        marks = ", ".join("?" * len(instances))
        here = dict(db.execute(
            f"select turn_id, instance_id from turn_tools where instance_id in ({marks})", list(instances)
        ).fetchall())
        threads = db.execute(
            "select thread_id, min(id), max(datetime_utc) as last_at from turns "
            "group by thread_id order by last_at desc, max(id) desc"
        ).fetchall()
        found = []
        subagents = subagent_conversations(db)  # a sub-agent's conversation is part of its parent's session
        for thread_id, first_turn, last_at in threads:
            if first_turn in here and thread_id != exclude and thread_id not in subagents:
                found.append(_describe(db, thread_id, last_at, instances[here[first_turn]]))
                if len(found) >= limit:
                    break
        return found
    except sqlite3.OperationalError:
        return []  # an older database without these tables


def _logged_root(arguments: str | None) -> str | None:
    try:
        root = json.loads(arguments or "{}").get("root")
    except (ValueError, AttributeError):
        return None
    return root if isinstance(root, str) else None


def _describe(db: Any, thread_id: str, last_at: str | None, root: str | None = None) -> LoggedSession:
    model_row = db.execute(
        "select model from turns where thread_id = ? order by id desc limit 1", [thread_id]
    ).fetchone()
    started, tokens = db.execute(
        "select min(datetime_utc), sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0)) from turns "
        "where thread_id = ?", [thread_id]
    ).fetchone()
    tip = db.execute("select tip_message_hash, name from threads where id = ?", [thread_id]).fetchone()
    requests: list[str] = []
    if tip and tip[0]:
        for (text,) in db.execute(_USER_TEXTS, {"tip": tip[0]}).fetchall():
            words = request_text(text or "")
            if words.strip():
                requests.append(words)
    return LoggedSession(
        conversation_id=thread_id,
        last_active=parse_logged_time(last_at),
        model=model_row[0] if model_row else "?",
        requests=len(requests),
        first_request=requests[0] if requests else (tip[1] if tip and tip[1] else ""),
        started=parse_logged_time(started),
        tokens=tokens or 0,
        root=root,
    )


def age(then: datetime | None, now: datetime | None = None) -> str:
    """How long ago, in a few characters: ``just now``, ``5m ago``, ``2h ago``, ``3d ago``,
    then the date."""
    if then is None:
        return "?"
    seconds = ((now or datetime.now(timezone.utc)) - then).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h ago"
    if seconds < 30 * 86400:
        return f"{int(seconds // 86400)}d ago"
    return then.astimezone().strftime("%Y-%m-%d")


def session_line(number: int, session: LoggedSession, now: datetime | None = None) -> str:
    """``  1. 2h ago · 3 turns · gpt-4.1-mini · fix the rounding in prices.py``"""
    request = first_line(session.first_request, 60) or "(no request)"
    return (f"{number:>3}. {age(session.last_active, now)} · {plural(session.requests, 'turn')} · "
            f"{clip(session.model, 30)} · {request}")


def sessions_list(sessions: list[LoggedSession], root: str | Path, now: datetime | None = None) -> str:
    """The picker's list: a heading, then one numbered line per session."""
    now = now or datetime.now(timezone.utc)
    lines = [f"recent sessions in {root}:"]
    lines += [session_line(number, session, now) for number, session in enumerate(sessions, 1)]
    return "\n".join(lines)


class ResumeSession:
    """Picking a session to continue, as part of :class:`~llm_coding_agent.cli.session.Session`
    (a mixin: it uses the session's ``ui``, ``db``, ``agent``, ``config``, ``_make_agent`` and
    ``_continued``)."""

    def _pick_conversation(self, root: Path, none_left: str, skip: str, exclude: str | None = None) -> str | None:
        """The id of one of ``root``'s recent sessions the user picks (None: they picked none)."""
        sessions = recent_sessions(self.db, root, exclude=exclude)
        if not sessions:
            self.ui.notice(f"no {'other' if exclude else 'earlier'} sessions in {root}; {none_left}", style="")
            return None
        self.ui.notice(sessions_list(sessions, root), style="")
        number = self.ui.choose(f"resume which? 1-{len(sessions)}, or Enter to {skip}", len(sessions))
        return sessions[number - 1].conversation_id if number else None

    def _latest_here(self, root: Path) -> str:
        """``-c``: the id of ``root``'s most recent session (sessions of other directories are
        reached with ``--all`` or ``--cid``)."""
        from .session import SessionError  # session.py builds on this module

        found = recent_sessions(self.db, root, limit=1)
        if not found:
            raise SessionError(
                f"no earlier session in {root} to continue; `llm code sessions --all` lists the others "
                "(continue one with --cid ID, or the latest anywhere with -c --all)"
            )
        return found[0].conversation_id

    def _switch_conversation(self) -> None:
        """``!resume``: continue another of this directory's sessions instead of this one."""
        if self.db is None:
            self.ui.error("cannot resume: logging is off (`llm logs on`)")
            return
        chosen = self._pick_conversation(
            self.agent.root, none_left="staying in this one", skip="stay in this one",
            exclude=self.agent.conversation_id,
        )
        if chosen is None:
            return
        from .session import SessionError  # session.py builds on this module

        previous, self.config.conversation_id = self.config.conversation_id, chosen
        try:
            self.agent = self._make_agent()
        except SessionError as ex:
            self.config.conversation_id = previous
            self.ui.error(str(ex))
            return
        self._continued()


# -- llm code sessions --------------------------------------------------------------------------


@click.command(name="sessions")
@click.option("-d", "--directory", metavar="DIR", help="List the sessions of DIR (default: the current directory)")
@click.option("all_dirs", "--all", is_flag=True, help="List the sessions of every directory")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=MAX_SESSIONS, show_default=True,
              help="How many sessions at most")
@click.option("json_output", "--json", is_flag=True, help="One JSON object per session")
def sessions_command(directory, all_dirs, limit, json_output):
    """Recent sessions of this directory, newest first: id, started, model, turns, tokens, first
    request. `llm code -c` continues the first; `llm code --cid ID` any of them.
    """
    from llm.cli import logs_db_path, logs_on
    from llm.migrations import migrate
    import sqlite_utils

    if directory is not None and all_dirs:
        raise click.UsageError("-d DIR and --all: use one of them")
    root = Path(directory or ".").resolve()
    if directory is not None and not root.is_dir():
        raise click.ClickException(f"directory does not exist: {directory}")
    if not logs_on() or not Path(logs_db_path()).exists():
        sessions = []
    else:
        db = sqlite_utils.Database(logs_db_path())
        migrate(db)
        sessions = recent_sessions(db, None if all_dirs else root, limit=limit)
    if json_output:
        for session in sessions:
            click.echo(json.dumps({
                "id": session.conversation_id, "root": session.root, "model": session.model,
                "started": session.started.isoformat() if session.started else None,
                "last_active": session.last_active.isoformat() if session.last_active else None,
                "turns": session.requests, "tokens": session.tokens, "first_request": session.first_request,
            }))
        return
    if not sessions:
        where = "any directory" if all_dirs else str(root)
        click.echo(f"no sessions in {where}" + ("" if all_dirs else " (--all lists every directory's)"), err=True)
        return
    click.echo(f"recent sessions {'in every directory' if all_dirs else f'in {root}'}:")
    for session in sessions:
        started = session.started.astimezone().strftime("%Y-%m-%d %H:%M") if session.started else "?"
        line = (f"{session.conversation_id}  {started}  {clip(session.model, 24)}  "
                f"{plural(session.requests, 'turn')}  {session.tokens:,} tokens  "
                f"{first_line(session.first_request, 60) or '(no request)'}")
        click.echo(line + (f"  [{session.root}]" if all_dirs else ""))
