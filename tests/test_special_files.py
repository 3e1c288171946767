"""FIFOs, sockets and a terminal-less stdin: no tool may block on them.

Opening a FIFO for reading waits for a writer, forever when there is none. Each call runs in a
thread joined with a generous limit, so a regression fails the test instead of hanging the suite;
the FIFO is then opened for writing once, which releases the stuck reader.
"""

from __future__ import annotations

import os
import socket
import stat
import threading

import pytest

from llm_coding_agent import CodingTools
from llm_coding_agent.errors import ToolError
from llm_coding_agent.tools import files, search
from llm_coding_agent.tools.search_py import _python_regex, _scan_file

#: Far longer than any of these calls takes; only a call blocked on a FIFO reaches it.
HANG_LIMIT = 20


def _release(fifos) -> None:
    for fifo in fifos:
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass  # no reader waiting on it


def promptly(function, *args, fifos=(), **kwargs):
    """``function(*args, **kwargs)``, failing the test if it blocks (on one of ``fifos``)."""
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = function(*args, **kwargs)
        except BaseException as ex:  # re-raised in the test's thread
            outcome["error"] = ex

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_LIMIT)
    if thread.is_alive():
        _release(fifos)
        thread.join(HANG_LIMIT)
        pytest.fail(f"{getattr(function, '__name__', function)} blocked on a FIFO")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


@pytest.fixture
def special(project):
    """The project with a FIFO (no writer) and a listening unix socket in it, top level and below."""
    (project / "sub").mkdir()
    (project / "sub" / "notes.txt").write_text("needle here\n")
    fifos = [project / "pipe", project / "sub" / "pipe"]
    for fifo in fifos:
        os.mkfifo(fifo)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(project / "sock"))
    sock.listen(1)
    yield project, fifos
    sock.close()
    _release(fifos)


@pytest.mark.parametrize("target, kind", [("pipe", "FIFO"), ("sock", "socket")])
@pytest.mark.parametrize(
    "name, arguments",
    [
        ("read_file", {}),
        ("read_file", {"offset": 3, "limit": 1}),
        ("write_file", {"content": "replaced\n"}),
        ("edit_file", {"old_string": "a", "new_string": "b"}),
    ],
)
def test_file_tools_refuse_special_files_at_once(special, target, kind, name, arguments):
    project, fifos = special
    tools = CodingTools(str(project), sandbox="off")
    out = promptly(getattr(tools, name), target, fifos=fifos, **arguments)
    assert out.startswith(f"Error: {target} is not a regular file") and kind in out, out
    assert not stat.S_ISREG(os.lstat(project / target).st_mode), "the special file was replaced"


@pytest.mark.parametrize("name", ["write_file", "edit_file"])
def test_approval_preview_of_a_fifo_does_not_block(special, name):
    project, fifos = special
    tools = CodingTools(str(project), sandbox="off")
    arguments = {"path": "pipe", "content": "x", "old_string": "a", "new_string": "b"}
    preview, error = promptly(tools._plan, name, arguments, fifos=fifos)
    assert error is not None and error.startswith("Error: pipe is not a regular file"), preview


@pytest.mark.parametrize("engine", ["rg", "python"])
def test_search_and_list_skip_fifos_and_sockets_in_the_tree(special, monkeypatch, engine):
    project, fifos = special
    if engine == "python":
        monkeypatch.setattr(search, "find_rg", lambda: None)
    elif search.find_rg() is None:
        pytest.skip("ripgrep is not installed")
    tools = CodingTools(str(project), sandbox="off")
    found = promptly(tools.search_files, "needle|.*", fifos=fifos)
    assert found.splitlines() == [
        "README.md:1:# Demo", "app.py:1:def add(a, b):", "app.py:2:    return a - b",
        "sub/notes.txt:1:needle here",
    ]
    listed = promptly(tools.list_files, fifos=fifos)
    assert sorted(listed.splitlines()) == ["README.md", "app.py", "sub/notes.txt"]
    out = promptly(tools.search_files, "x", "pipe", fifos=fifos)
    assert out.startswith("Error: pipe is not a directory or a regular file"), out


def test_a_fifo_swapped_in_after_the_check_is_still_refused(special, monkeypatch):
    # The stat before opening cannot see a FIFO that replaces the file a moment later; the
    # non-blocking open and the fstat after it must catch it without waiting for a writer.
    project, fifos = special
    monkeypatch.setattr(files, "check_regular", lambda real, display: None)
    with pytest.raises(ToolError, match="not a regular file"):
        promptly(files.open_regular, project / "pipe", "pipe", fifos=fifos)
    count, lines = promptly(_scan_file, os.fsencode(project / "pipe"), _python_regex("x"), 5,
                            fifos=fifos)
    assert (count, lines) == (0, [])


def test_regular_files_still_read_after_the_checks(special):
    project, _ = special
    with files.open_regular(project / "app.py", "app.py") as f:
        assert f.read() == b"def add(a, b):\n    return a - b\n"
        assert os.get_blocking(f.fileno())


def test_command_stdin_is_not_inherited(project):
    # Make this process's stdin a pipe nobody writes to: a command that inherited it would wait
    # for input until its timeout, one reading /dev/null sees end-of-file at once.
    read_end, write_end = os.pipe()
    saved = os.dup(0)
    os.dup2(read_end, 0)
    try:
        out = CodingTools(str(project), sandbox="off").execute_command("cat; echo done", timeout=10)
    finally:
        os.dup2(saved, 0)
        for fd in (saved, read_end, write_end):
            os.close(fd)
    assert out == "done\nExit code: 0"
    bare = CodingTools(str(project), sandbox="off").execute_command("cat", timeout=10)
    assert bare == "(no output)\nExit code: 0"
