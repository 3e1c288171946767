"""A real interactive `llm code` session in a pseudo-terminal: rendering, approval prompt, edit."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")

DRIVER = Path(__file__).parent / "support" / "scripted_llm.py"
REPO = Path(__file__).resolve().parent.parent


def spawn(project, steps, tmp_path, *args, rows=40, cols=120):
    steps_file = tmp_path / "steps.json"
    steps_file.write_text(json.dumps(steps))
    env = dict(os.environ)
    env.update(
        SCRIPTED_STEPS=str(steps_file),
        LLM_USER_PATH=str(tmp_path / "user"),
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
        TERM="xterm-256color",
        PROMPT_TOOLKIT_NO_CPR="1",
        COLUMNS=str(cols),
        LINES=str(rows),
    )
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(
        sys.executable,
        [str(DRIVER), "code", "-m", "scripted", "-d", str(project), "--sandbox", "off", *args],
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(rows, cols),
    )
    return child


def test_interactive_edit_with_approval_in_a_pty(project, tmp_path):
    steps = [
        {"text": "Let me fix it.", "tool_calls": [["CodingTools_edit_file",
            {"path": "app.py", "old_string": "a - b", "new_string": "a + b"}]]},
        {"text": "Fixed **add**: it now adds."},
    ]
    child = spawn(project, steps, tmp_path)
    try:
        child.expect("llm code")  # header
        child.expect("scripted")
        child.expect("›")
        child.sendline("fix the add function")
        child.expect(r"Edit app\.py\?")
        # The diff is rendered before the question is answered (the changed "+" highlighted).
        child.expect(r"\+    return a (\x1b\[[0-9;]*m)*\+(\x1b\[[0-9;]*m)* b")
        assert "a - b" in re.sub(r"\x1b\[[0-9;]*m", "", child.before)  # the removed line is shown too
        child.expect(r"\[y\]es")
        assert (project / "app.py").read_text() == "def add(a, b):\n    return a - b\n"
        child.sendline("y")
        child.expect(r"edit_file\S*\s+\S*app\.py\S* → \+1 -1")
        child.expect("it now adds")
        child.expect("›")
        child.sendline("!quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert (project / "app.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert child.exitstatus == 0


def test_ctrl_d_exits_and_ctrl_c_twice_exits(project, tmp_path):
    child = spawn(project, [], tmp_path)
    try:
        child.expect("›")
        child.sendcontrol("c")
        child.expect("Ctrl-C again")
        child.expect("›")
        child.sendcontrol("c")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    child = spawn(project, [], tmp_path)
    try:
        child.expect("›")
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


def test_ctrl_c_cancels_the_running_turn_and_returns_to_prompt(project, tmp_path):
    steps = [{"text": "Thinking very slowly...", "sleep": 30}, {"text": "Second answer arrives."}]
    child = spawn(project, steps, tmp_path)
    try:
        child.expect("›")
        child.sendline("slow task")
        child.expect("Thinking very slowly")
        child.sendcontrol("c")
        child.expect("Interrupted")
        child.expect("›")
        child.sendline("next task")
        child.expect("Second answer arrives")
        child.expect("›")
        child.sendline("!quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
