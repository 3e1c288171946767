"""run_command: exit codes, interleaving, stdin, timeouts, process-tree cleanup, bounded output."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_coding_agent.errors import ToolError
from llm_coding_agent.tools.shell import (
    CommandOutput,
    _HeadTail,
    child_environment,
    NO_TESTS_NOTE,
    format_command_output,
    normalize_timeout,
    omitted_marker,
    redact,
    run_command,
    stored_key_values,
)

REPO = Path(__file__).resolve().parents[1]
#: The cut-off marker, found by its words (not by calling omitted_marker), with the count.
OMITTED = re.compile(r"\n\[\.\.\. output truncated: (\d+) bytes omitted[^\n]*\.\.\.\]\n")


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (orphans may linger unreaped as zombies)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return raw[raw.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


def wait_dead(pid: int, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return not alive(pid)


@pytest.fixture
def reap_pids():
    """Collects pids the test spawned indirectly and SIGKILLs survivors, so failures don't leak."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


# --------------------------------------------------------------------------------------------------
# Basics


@pytest.mark.parametrize("code", [0, 1, 3, 255])
def test_exit_codes(tmp_path, code):
    out = run_command(f"exit {code}", tmp_path, timeout=10)
    assert out == CommandOutput(text="", exit_code=code, timed_out=False, omitted_bytes=0)


def test_shell_killed_by_signal_reports_negative_code(tmp_path):
    out = run_command("kill -9 $$", tmp_path, timeout=10)
    assert out.exit_code == -9 and not out.timed_out
    assert "killed by signal SIGKILL" in format_command_output(out, 10)


def test_runs_in_cwd_with_bash(tmp_path):
    out = run_command('pwd; echo "${BASH_VERSION:+bash}"', tmp_path, timeout=10)
    assert out.text == f"{tmp_path}\nbash\n"


def test_stdout_and_stderr_interleaved_in_order(tmp_path):
    out = run_command("echo one; echo two >&2; echo three; echo four >&2", tmp_path, timeout=10)
    assert out.text == "one\ntwo\nthree\nfour\n"
    assert out.exit_code == 0


def test_stdin_is_closed(tmp_path):
    start = time.monotonic()
    out = run_command("cat", tmp_path, timeout=30)
    assert out.text == "" and out.exit_code == 0
    out = run_command('read x; echo "got:$x rc:$?"', tmp_path, timeout=30)
    assert out.text == "got: rc:1\n"
    assert time.monotonic() - start < 5


def test_no_controlling_terminal(tmp_path):
    # Prompts that open /dev/tty (sudo, ssh, git credentials) must fail, not wait on the user.
    out = run_command("exec 3</dev/tty && echo has-tty || echo no-tty", tmp_path, timeout=10)
    assert out.text.strip().endswith("no-tty")


def test_non_utf8_bytes_are_replaced(tmp_path):
    out = run_command(r"printf 'a\377\376b\n'", tmp_path, timeout=10)
    assert out.text == "a\ufffd\ufffdb\n"


def test_argument_validation(tmp_path):
    with pytest.raises(ToolError):
        run_command("", tmp_path)
    with pytest.raises(ToolError):
        run_command("echo \x00", tmp_path)
    with pytest.raises(ToolError):
        run_command("true", tmp_path / "missing")
    for bad in ("soon", None, float("nan"), 0, -5, True):
        with pytest.raises(ToolError):
            run_command("true", tmp_path, timeout=bad)


def test_timeout_is_clamped():
    assert normalize_timeout(10_000) == 600
    assert normalize_timeout(float("inf")) == 600
    assert normalize_timeout("2.5") == 2.5
    assert normalize_timeout(0.01) == 0.01


# --------------------------------------------------------------------------------------------------
# Timeouts and process trees


def test_timeout_returns_partial_output_and_kills_tree(tmp_path, reap_pids):
    pidfile = tmp_path / "bg.pid"
    start = time.monotonic()
    out = run_command(
        f"echo before; sleep 100 & echo $! > {pidfile}; echo after; sleep 100",
        tmp_path,
        timeout=1,
    )
    elapsed = time.monotonic() - start
    grandchild = int(pidfile.read_text())
    reap_pids.append(grandchild)
    assert out.timed_out and out.exit_code is None
    assert out.text == "before\nafter\n"
    assert 0.9 < elapsed < 4
    assert wait_dead(grandchild, within=1)
    formatted = format_command_output(out, 1)
    # 0.1a0 compatibility: the error comes first, then the partial output.
    assert formatted.startswith("Error: command timed out after 1 s")
    assert formatted.endswith("Output so far:\nbefore\nafter")


def test_timeout_kills_descendant_that_left_the_group(tmp_path, reap_pids):
    pidfile = tmp_path / "escapee.pid"
    out = run_command(
        f"setsid sleep 100 >/dev/null 2>&1 & echo $! > {pidfile}; sleep 100", tmp_path, timeout=1
    )
    escapee = int(pidfile.read_text())
    reap_pids.append(escapee)
    assert out.timed_out
    assert wait_dead(escapee, within=1)


def test_sigterm_ignoring_command_is_killed(tmp_path):
    start = time.monotonic()
    out = run_command("trap '' TERM; echo armed; while :; do sleep 0.05; done", tmp_path, timeout=0.5)
    assert out.timed_out and out.text == "armed\n"
    assert time.monotonic() - start < 4


def test_timeout_enforced_while_output_never_stops(tmp_path):
    start = time.monotonic()
    out = run_command("yes", tmp_path, timeout=1, max_output=1000)
    assert out.timed_out
    assert time.monotonic() - start < 4
    assert out.omitted_bytes > 1_000_000
    assert out.text.startswith("y\ny\n") and out.text.endswith("y\n")


def test_background_job_holding_the_pipe_does_not_stall(tmp_path, reap_pids):
    # The shell exits at once, but its background job keeps the output pipe open.
    start = time.monotonic()
    out = run_command("sleep 100 & echo $!", tmp_path, timeout=60)
    elapsed = time.monotonic() - start
    pid = int(out.text)
    reap_pids.append(pid)
    assert out.exit_code == 0 and not out.timed_out
    assert elapsed < 3
    assert wait_dead(pid), "background jobs must not outlive the call"


def test_keyboard_interrupt_kills_tree_and_propagates(tmp_path, reap_pids):
    pidfile = tmp_path / "child.pid"

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.7)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_command(f"sleep 100 & echo $! > {pidfile}; sleep 100", tmp_path, timeout=30)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    child = int(pidfile.read_text())
    reap_pids.append(child)
    assert wait_dead(child, within=1)


# --------------------------------------------------------------------------------------------------
# Output limits


def test_head_and_tail_kept_with_marker(tmp_path):
    full = "".join(f"{n}\n" for n in range(1, 100_001)).encode()
    out = run_command("seq 1 100000", tmp_path, timeout=30, max_output=1000)
    match = OMITTED.search(out.text)
    head, tail = out.text[: match.start()], out.text[match.end() :]
    assert int(match.group(1)) == out.omitted_bytes == len(full) - 1000
    assert full.startswith(head.encode()) and len(head) == 500
    assert full.endswith(tail.encode()) and len(tail) == 500
    assert tail.endswith("99999\n100000\n")


@pytest.mark.parametrize("size", [1000, 999, 700, 501])
def test_output_within_the_limit_is_untouched(tmp_path, size):
    out = run_command(f"seq 1 1000 | head -c {size}", tmp_path, timeout=10, max_output=1000)
    assert out.omitted_bytes == 0
    assert out.text.encode() == "".join(f"{n}\n" for n in range(1, 1001)).encode()[:size]


def test_cut_points_respect_multibyte_characters(tmp_path):
    # 2-byte characters with an odd limit: both cut points would otherwise split a character.
    out = run_command("for i in $(seq 5000); do printf 'é'; done", tmp_path, timeout=10, max_output=1001)
    assert "\ufffd" not in out.text
    head, tail = out.text.split(omitted_marker(out.omitted_bytes))
    assert set(head) == {"é"} and set(tail) == {"é"}
    assert out.omitted_bytes + 2 * (len(head) + len(tail)) == 10_000


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=300),
    cuts=st.lists(st.integers(0, 300), max_size=8),
    limit=st.integers(2, 120),
)
def test_head_tail_buffer_matches_slicing(data, cuts, limit):
    buffer = _HeadTail(limit // 2, limit - limit // 2)
    previous = 0
    for cut in sorted(cuts) + [len(data)]:
        cut = min(cut, len(data))
        buffer.feed(data[previous:cut])
        previous = max(previous, cut)
    text, omitted = buffer.text()
    if len(data) <= limit:
        assert (text, omitted) == (data.decode("utf-8", "replace"), 0)
    else:
        assert bytes(buffer.head) == data[: limit // 2]
        assert bytes(buffer.tail[-(limit - limit // 2) :]) == data[-(limit - limit // 2) :]
        assert omitted_marker(omitted) in text
        assert len(data) - limit <= omitted <= len(data) - limit + 6


def test_memory_stays_bounded_for_huge_output(tmp_path):
    script = textwrap.dedent(
        """
        import resource, sys, time
        from pathlib import Path
        from llm_coding_agent.tools.shell import run_command
        baseline = int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))
        start = time.monotonic()
        out = run_command("head -c 600000000 /dev/zero | tr '\\\\0' a", Path(sys.argv[1]), timeout=60)
        elapsed = time.monotonic() - start
        assert out.exit_code == 0 and not out.timed_out, out
        assert out.omitted_bytes == 600_000_000 - 30_000, out.omitted_bytes
        assert out.text.startswith("a" * 15_000) and out.text.endswith("a" * 15_000)
        print(baseline, int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM'))), elapsed)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    baseline_kib, peak_kib, elapsed = result.stdout.split()
    assert int(peak_kib) < 100 * 1024, f"peak RSS {int(peak_kib) // 1024} MB"
    # The package import alone is most of the peak; the capture itself must add only a little.
    assert int(peak_kib) - int(baseline_kib) < 30 * 1024


# --------------------------------------------------------------------------------------------------
# Environment and secrets


def test_child_environment_scrubs_secrets():
    environ = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/home/u",
        "OPENAI_API_KEY": "sk-1",
        "ANTHROPIC_API_KEY": "sk-2",
        "LLM_GEMINI_KEY": "g",
        "FOO_TOKEN": "t",
        "MY_SECRET": "s",
        "db_password": "p",
        "AWS_SECRET_ACCESS_KEY": "a",
        "AWS_ACCESS_KEY_ID": "id",
        "DJANGO_SECRET_KEY": "d",
        "GITHUB_TOKEN": "gh",
        "CI_JOB_TOKEN": "ci",
        "TOKENIZERS_PARALLELISM": "false",
        "PAGER": "less",
    }
    env = child_environment(environ, allow=["GITHUB_TOKEN", "CI_*"])
    for removed in (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "LLM_GEMINI_KEY",
        "FOO_TOKEN",
        "MY_SECRET",
        "db_password",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "DJANGO_SECRET_KEY",
    ):
        assert removed not in env
    assert env["GITHUB_TOKEN"] == "gh" and env["CI_JOB_TOKEN"] == "ci"
    assert env["PATH"] == "/usr/bin:/bin" and env["HOME"] == "/home/u"
    assert env["TOKENIZERS_PARALLELISM"] == "false"
    assert env["PAGER"] == "cat" and env["GIT_PAGER"] == "cat" and env["GIT_TERMINAL_PROMPT"] == "0"
    assert environ["OPENAI_API_KEY"] == "sk-1", "the input mapping must not be modified"


def test_default_environment_is_scrubbed(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    monkeypatch.setenv("FOO_TOKEN", "token-should-not-leak")
    monkeypatch.setenv("HARMLESS_SETTING", "visible")
    out = run_command("env", tmp_path, timeout=10)
    assert "OPENAI_API_KEY" not in out.text and "FOO_TOKEN" not in out.text
    assert "HARMLESS_SETTING=visible" in out.text and "PATH=" in out.text
    explicit = run_command('echo "$FOO_TOKEN"', tmp_path, timeout=10, env={"FOO_TOKEN": "given"})
    assert explicit.text == "given\n"


@pytest.fixture
def llm_user_dir(tmp_path, monkeypatch):
    user_dir = tmp_path / "llm-user"
    user_dir.mkdir()
    monkeypatch.setenv("LLM_USER_PATH", str(user_dir))
    return user_dir


def test_stored_key_values(llm_user_dir):
    assert stored_key_values() == []
    (llm_user_dir / "keys.json").write_text("{not json")
    assert stored_key_values() == []
    (llm_user_dir / "keys.json").write_text(
        json.dumps(
            {"// Note": "This file stores secret API credentials. Do not share!", "openai": "sk-abc12345xyz", "n": 3}
        )
    )
    assert stored_key_values() == ["sk-abc12345xyz"]


def test_redact():
    assert redact("key sk-abc12345xyz and short", ["sk-abc12345xyz", "short"]) == "key [redacted] and short"
    assert redact("ab-longer-secret", ["longer-secret", "ab-longer-secret"]) == "[redacted]"


def test_tool_output_never_echoes_stored_keys(tmp_path, llm_user_dir, monkeypatch):
    (llm_user_dir / "keys.json").write_text(json.dumps({"openai": "sk-stored-secret-9876"}))
    monkeypatch.setenv("SERVICE_PASSWORD", "hunter2-but-longer")
    out = run_command(
        f"cat {llm_user_dir}/keys.json; echo; echo hunter2-but-longer", tmp_path, timeout=10
    )
    formatted = format_command_output(out, 10)
    assert "sk-stored-secret-9876" not in formatted and "hunter2-but-longer" not in formatted
    assert formatted.count("[redacted]") == 2
    assert formatted.endswith("Exit code: 0")


@pytest.mark.parametrize("output, exit_code", [
    ("\n----------------------------------------------------------------------\n"
     "Ran 0 tests in 0.000s\n\nOK\n", 0),  # unittest before 3.12
    ("\n------\nRan 0 tests in 0.000s\n\nNO TESTS RAN\n", 5),  # unittest 3.12+
    ("============ test session starts ============\ncollected 0 items\n\n"
     "=========== no tests ran in 0.01s ============\n", 5),  # pytest
])
def test_a_test_run_that_ran_nothing_says_so(output, exit_code):
    formatted = format_command_output(CommandOutput(output, exit_code, False, 0), 120)
    assert formatted.endswith(f"Exit code: {exit_code}" + NO_TESTS_NOTE)


def test_a_real_test_run_gets_no_note():
    out = CommandOutput("Ran 10 tests in 0.1s\n\nOK\n5 passed in 0.2s\n", 0, False, 0)
    assert format_command_output(out, 120).endswith("Exit code: 0")


def test_format_command_output():
    ok = format_command_output(CommandOutput("hello", 0, False, 0), 120)
    assert ok == "hello\nExit code: 0"
    assert format_command_output(CommandOutput("", 2, False, 0), 120) == "(no output)\nExit code: 2"
    late = format_command_output(CommandOutput("partial\n", None, True, 0), 5)
    assert late.startswith("Error: command timed out after 5 s") and late.endswith("Output so far:\npartial")
    assert "Exit code" not in late
