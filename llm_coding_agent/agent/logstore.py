"""Logging each response to llm's database in time independent of the conversation's length.

llm's ``response.log_to_db(db)`` stores the whole input chain on every call: it hashes every
message of the history and looks each hash up in SQLite, so a session of n tool rounds costs
O(n²) in logging alone (measured in ``bench/loop.py``). The agent logs after every response, so
it uses :class:`IncrementalLogStore`: llm's own ``LogStore`` (same tables, same hashes, same rows)
that remembers which message objects it stored at which point of the chain and skips them the
next time. A new or changed message (compaction builds new ones) is hashed and stored as usual.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["IncrementalLogStore", "log_response", "logged_root", "conversation_root", "db_path", "parse_logged_time"]

try:
    from llm.logs import LogStore
except ImportError:  # pragma: no cover - an llm without the content-addressed store
    LogStore = None  # type: ignore[assignment,misc]

_SUPPORTED = LogStore is not None and hasattr(LogStore, "_ensure_message") and hasattr(LogStore, "log")


if _SUPPORTED:

    class IncrementalLogStore(LogStore):  # type: ignore[misc,valid-type]
        """``llm.logs.LogStore`` that skips messages it stored during the previous ``log()``.

        Messages are recognised by identity (the same object, reached from the same parent hash):
        llm builds each request from the previous request's message objects, and neither llm nor
        this package changes a message once it was sent. Only the last logged chain is
        remembered, so memory stays bounded when compaction replaces the history.
        """

        def __init__(self, db: Any):
            super().__init__(db)
            self._known: dict[tuple[int, str | None], tuple[Any, str]] = {}
            self._current: dict[tuple[int, str | None], tuple[Any, str]] = {}

        def log(self, response: Any, thread_id: str | None = None) -> str:
            self._current = {}
            ok = False
            conn = self.db.conn
            # Take the write lock before the first read. llm's deferred transaction reads first and
            # upgrades later; with another process writing meanwhile (``llm code batch``) that
            # upgrade fails at once with "database is locked", whatever the busy timeout.
            own = not conn.in_transaction
            if own:
                conn.execute("BEGIN IMMEDIATE")
            try:
                turn = super().log(response, thread_id)
                if own:
                    conn.commit()
                ok = True
                return turn
            finally:
                if own and not ok and conn.in_transaction:
                    conn.rollback()
                # After a failed (rolled back) write nothing is known to be stored.
                self._known = self._current if ok else {}
                self._current = {}

        def _ensure_message(self, message: Any, parent_hash: str | None, fragment_map: dict) -> str:
            key = (id(message), parent_hash)
            hit = self._known.get(key)
            if hit is None or hit[0] is not message:
                hit = (message, super()._ensure_message(message, parent_hash, fragment_map))
            self._current[key] = hit
            return hit[1]

else:  # pragma: no cover
    IncrementalLogStore = None  # type: ignore[assignment,misc]


def log_response(response: Any, db: Any, store: Any = None) -> Any:
    """Log ``response`` to ``db``; returns the store to pass next time (None: llm's own path)."""
    if IncrementalLogStore is None:
        response.log_to_db(db)
        return None
    if store is None or store.db is not db:
        store = IncrementalLogStore(db)
    store.log(response)
    return store


# -- reading back: where a logged conversation worked ---------------------------------------------

def db_path(db: Any) -> str | None:
    """The file of a ``sqlite_utils.Database`` (or a path given as such); None for llm's default."""
    if db is None:
        return None
    if isinstance(db, (str, os.PathLike)):
        return os.fspath(db)
    rows = db.execute("PRAGMA database_list").fetchall()
    return rows[0][2] if rows else None


def logged_root(conversation_id: str | None, db: Any = None) -> str | None:
    """The project root a logged conversation worked in (None if unknown)."""
    from llm.cli import load_conversation

    import click

    try:
        conversation = load_conversation(conversation_id, database=db_path(db))
    except click.ClickException:
        return None
    return conversation_root(conversation) if conversation else None


_ROOT_SPEC = re.compile(r"^CodingTools\((.*)\)$", re.DOTALL)


def conversation_root(conversation) -> str | None:
    """The root of the ``CodingTools`` a loaded conversation was logged with, if it still exists."""
    for spec in conversation.loaded_tools or []:
        match = _ROOT_SPEC.match(spec)
        if match:
            try:
                root = json.loads(match.group(1)).get("root")
            except (ValueError, AttributeError):
                continue
            if root and Path(root).is_dir():
                return root
    return None


def parse_logged_time(text: str | None) -> datetime | None:
    """A ``datetime_utc`` value of llm's logs as an aware datetime (None when missing or bad)."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
