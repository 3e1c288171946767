import subprocess
import sys
from pathlib import Path

import pytest

from todo import TodoList

ROOT = Path(__file__).resolve().parent.parent


def test_add_priority_is_stored(tmp_path):
    todos = TodoList(tmp_path / "t.json")
    item = todos.add("a", priority="high")
    assert item["priority"] == "high"
    assert todos.add("b")["priority"] == "normal"
    reloaded = TodoList(tmp_path / "t.json")
    assert [i["priority"] for i in reloaded.items] == ["high", "normal"]


def test_bad_priority(tmp_path):
    todos = TodoList(tmp_path / "t.json")
    with pytest.raises(ValueError):
        todos.add("a", priority="urgent")
    assert todos.items == []


def cli(tmp_path, *args):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "--file", str(tmp_path / "c.json"), *args],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_cli_orders_by_priority(tmp_path):
    cli(tmp_path, "add", "water plants", "--priority", "low")
    cli(tmp_path, "add", "pay rent", "--priority", "high")
    cli(tmp_path, "add", "read book")
    cli(tmp_path, "add", "call mum", "--priority", "high")
    cli(tmp_path, "add", "wash car", "--priority", "low")
    assert cli(tmp_path, "list") == [
        "pay rent", "call mum", "read book", "water plants", "wash car",
    ]
