"""Logging to llm's database while other processes write to it (``llm code batch``)."""

from __future__ import annotations

import sqlite3
import threading
import time

import sqlite_utils
from llm.migrations import migrate

from llm_coding_agent import CodingAgent
from conftest import Step


def test_a_response_is_logged_while_another_connection_holds_the_write_lock(model, project, tmp_path):
    path = tmp_path / "logs.db"
    db = sqlite_utils.Database(sqlite3.connect(str(path), timeout=10))
    migrate(db)
    db.enable_wal()
    model.script("First answer.", "Second answer.")
    agent = CodingAgent(model=model, root=str(project), db=db, undo=False, sandbox="off")
    agent.run("hello")  # the thread and its first messages exist now

    # Another process: holds the write lock for a moment, then commits a row of its own.
    other = sqlite3.connect(str(path), timeout=10, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE IF NOT EXISTS other_writer (n INTEGER)")
    other.execute("INSERT INTO other_writer VALUES (1)")
    committed = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    committed.start()
    try:
        started = time.monotonic()
        result = agent.run("again")  # logging waits for the lock instead of failing
    finally:
        committed.join()
        other.close()
    assert result.text == "Second answer."
    assert time.monotonic() - started >= 0.4
    turns = db.execute("select count(*) from turns").fetchone()[0]
    assert turns == 2
    assert db.execute("select count(*) from other_writer").fetchone()[0] == 1


def test_a_failed_log_leaves_no_transaction_open(model, project, tmp_path, monkeypatch):
    from llm.logs import LogStore

    db = sqlite_utils.Database(tmp_path / "logs.db")
    migrate(db)
    model.script("One.", "Two.")
    agent = CodingAgent(model=model, root=str(project), db=db, undo=False, sandbox="off")

    def broken(self, response, thread_id):
        self.db.execute("insert into schemas (id, content) values ('x', 'y')")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(LogStore, "_log_in_transaction", broken)
    try:
        agent.run("hello")
    except sqlite3.OperationalError:
        pass
    assert not db.conn.in_transaction
    assert db.execute("select count(*) from schemas where id = 'x'").fetchone()[0] == 0
    monkeypatch.undo()
    agent.run("again")
    assert db.execute("select count(*) from turns").fetchone()[0] >= 1
