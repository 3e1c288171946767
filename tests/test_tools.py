"""CodingTools: read_file, write_file, edit_file, execute_command wiring, registration, stale edits."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import llm
import pytest
from click.testing import CliRunner

from llm_coding_agent import CodingTools


@pytest.fixture
def tools(project):
    return CodingTools(str(project), sandbox="off")


# -- registration ---------------------------------------------------------------------------------


def test_registered_with_llm():
    registered = llm.get_tools()
    assert "CodingTools" in registered
    names = sorted(t.name for t in CodingTools(".").tools())
    assert names == [
        "CodingTools_edit_file",
        "CodingTools_execute_command",
        "CodingTools_list_files",
        "CodingTools_read_file",
        "CodingTools_search_files",
        "CodingTools_write_file",
    ]


def test_llm_tools_command_lists_toolbox():
    from llm.cli import cli

    result = CliRunner().invoke(cli, ["tools"])
    assert result.exit_code == 0, result.output
    assert "CodingTools" in result.output and "read_file" in result.output


def test_parameter_names_exactly():
    schemas = {t.name.split("_", 1)[1]: t.input_schema["properties"] for t in CodingTools(".").tools()}
    assert list(schemas["read_file"]) == ["path", "offset", "limit"]
    assert list(schemas["write_file"]) == ["path", "content"]
    assert list(schemas["edit_file"]) == ["path", "old_string", "new_string", "replace_all"]
    assert list(schemas["list_files"]) == ["pattern", "path"]
    assert list(schemas["search_files"]) == ["pattern", "path", "glob", "max_results"]
    assert list(schemas["execute_command"]) == ["command", "timeout"]


def test_constructor_config_is_json_safe(project):
    import json

    json.dumps(CodingTools(str(project))._config)


def test_public_api_all():
    import llm_coding_agent

    for name in llm_coding_agent.__all__:
        assert hasattr(llm_coding_agent, name), name
    assert {"CodingAgent", "CodingTools", "AgentResult"} <= set(llm_coding_agent.__all__)
    import types

    public = {
        n for n in dir(llm_coding_agent)
        if not n.startswith("_") and n != "annotations"
        and not isinstance(getattr(llm_coding_agent, n), types.ModuleType)
    }
    assert public == set(llm_coding_agent.__all__)
    with pytest.raises(AttributeError):
        llm_coding_agent.no_such_name


# -- read_file ------------------------------------------------------------------------------------


def test_read_numbered(tools, project):
    out = tools.read_file("app.py")
    assert out == "     1\tdef add(a, b):\n     2\t    return a - b"


def test_read_offset_limit_and_continuation_hint(tools, project):
    (project / "big.txt").write_text("".join(f"line {i}\n" for i in range(10)))
    out = tools.read_file("big.txt", offset=2, limit=3)
    lines = out.splitlines()
    assert lines[:3] == ["     3\tline 2", "     4\tline 3", "     5\tline 4"]
    assert "offset=5" in lines[-1]
    assert "offset=" not in tools.read_file("big.txt", offset=7, limit=3)


def test_read_exact_end_has_no_hint(tools, project):
    (project / "three.txt").write_text("a\nb\nc\n")
    assert "offset" not in tools.read_file("three.txt", limit=3)


def test_read_long_lines_cut(tools, project):
    (project / "long.txt").write_text("x" * 10_000 + "\nshort\n")
    out = tools.read_file("long.txt")
    first = out.splitlines()[0]
    assert "[line truncated]" in first and len(first) < 2_100
    assert out.splitlines()[1] == "     2\tshort"


def test_read_total_output_capped(tools, project):
    (project / "wide.txt").write_text(("y" * 1000 + "\n") * 200)
    out = tools.read_file("wide.txt")
    assert len(out) <= 52_000
    assert "call read_file with offset=" in out.splitlines()[-1]


@pytest.mark.parametrize(
    "setup, path, message",
    [
        (lambda p: (p / "bin.dat").write_bytes(b"\x00\x01\x02abc"), "bin.dat", "binary"),
        (lambda p: (p / "d").mkdir(), "d", "directory"),
        (lambda p: None, "nope.txt", "does not exist"),
    ],
)
def test_read_errors(tools, project, setup, path, message):
    setup(project)
    out = tools.read_file(path)
    assert out.startswith("Error:") and message in out


def test_read_offset_past_end(tools):
    out = tools.read_file("app.py", offset=10)
    assert out.startswith("Error:") and "past the end" in out and "2 lines" in out


def test_read_bad_argument_types(tools):
    assert tools.read_file("app.py", offset="x").startswith("Error:")
    assert tools.read_file("app.py", offset=-1).startswith("Error:")
    assert tools.read_file(["app.py"]).startswith("Error:")


def test_read_empty_file(tools, project):
    (project / "empty.txt").write_text("")
    assert "empty" in tools.read_file("empty.txt")


def test_read_crlf_and_non_utf8(tools, project):
    (project / "w.txt").write_bytes(b"one\r\ntwo\xff\r\n")
    out = tools.read_file("w.txt")
    assert out.splitlines()[0] == "     1\tone"
    assert "two" in out


def test_read_late_page_of_big_file_streams(tmp_path):
    """Reading a late page must not load the file: measured in a child process's peak RSS."""
    root = tmp_path / "r"
    root.mkdir()
    line = b"0123456789" * 9 + b"\n"
    with open(root / "log.txt", "wb") as f:
        block = line * 10_000
        for _ in range(300):  # ~270 MB
            f.write(block)
    script = (
        "import resource, sys\n"
        "from llm_coding_agent import CodingTools\n"
        f"t = CodingTools({str(root)!r}, sandbox='off')\n"
        "out = t.read_file('log.txt', offset=2_900_000, limit=50)\n"
        "assert out.splitlines()[0].startswith('2900001'), out[:200]\n"
        "print(int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM'))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    peak_kb = int(proc.stdout.strip().splitlines()[-1])
    assert peak_kb < 100 * 1024


def test_read_single_giant_line_is_bounded(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    with open(root / "one.txt", "wb") as f:
        for _ in range(200):
            f.write(b"z" * 1_000_000)
    script = (
        "import resource\n"
        "from llm_coding_agent import CodingTools\n"
        f"out = CodingTools({str(root)!r}, sandbox='off').read_file('one.txt')\n"
        "assert 'line truncated' in out\n"
        "print(int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM'))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip().splitlines()[-1]) < 100 * 1024


# -- write_file -----------------------------------------------------------------------------------


def test_write_creates_parents_and_reports(tools, project):
    out = tools.write_file("a/b/c.txt", "hello\n")
    assert out == "Created a/b/c.txt (6 bytes)"
    assert (project / "a/b/c.txt").read_text() == "hello\n"
    out = tools.write_file("a/b/c.txt", "bye\n")
    assert out.startswith("Overwrote a/b/c.txt (4 bytes)")


def test_write_keeps_permission_bits(tools, project):
    script = project / "run.sh"
    script.write_text("#!/bin/sh\necho old\n")
    script.chmod(0o755)
    tools.write_file("run.sh", "#!/bin/sh\necho new\n")
    assert stat.S_IMODE(script.stat().st_mode) == 0o755


def test_write_new_file_uses_umask_mode(tools, project):
    tools.write_file("new.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((project / "new.txt").stat().st_mode) == 0o666 & ~umask


def test_write_is_atomic_on_failure(tools, project, monkeypatch):
    target = project / "keep.txt"
    target.write_text("original")

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    out = tools.write_file("keep.txt", "new content")
    assert out.startswith("Error:")
    assert target.read_text() == "original"
    assert [p.name for p in project.iterdir() if p.name.startswith(".keep")] == []


def test_write_directory_is_error(tools, project):
    (project / "dir").mkdir()
    assert tools.write_file("dir", "x").startswith("Error:")


def test_write_keeps_crlf_of_existing_file(tools, project):
    (project / "w.txt").write_bytes(b"a\r\nb\r\n")
    tools.write_file("w.txt", "c\nd\n")
    assert (project / "w.txt").read_bytes() == b"c\r\nd\r\n"


# -- edit_file ------------------------------------------------------------------------------------


def test_edit_returns_diff(tools, project):
    out = tools.edit_file("app.py", "a - b", "a + b")
    assert out.startswith("Edited app.py (+1 -1)")
    assert "-    return a - b" in out and "+    return a + b" in out
    assert (project / "app.py").read_text() == "def add(a, b):\n    return a + b\n"


def test_edit_multiple_matches_names_lines(tools, project):
    (project / "m.py").write_text("x = 1\ny = 2\nx = 1\nz = 3\nx = 1\n")
    out = tools.edit_file("m.py", "x = 1", "x = 9")
    assert out.startswith("Error:") and "3 times" in out and "lines 1, 3, 5" in out
    assert (project / "m.py").read_text().count("x = 1") == 3


def test_edit_replace_all(tools, project):
    (project / "m.py").write_text("x = 1\nx = 1\n")
    out = tools.edit_file("m.py", "x = 1", "x = 2", replace_all=True)
    assert "(+2 -2, 2 replacements)" in out
    assert (project / "m.py").read_text() == "x = 2\nx = 2\n"


def test_edit_identical_strings_error(tools):
    out = tools.edit_file("app.py", "a - b", "a - b")
    assert out.startswith("Error:") and "identical" in out
    # The text is in the file: the model is told so, and what to do instead of re-sending it.
    assert "that text is in app.py (line 2), so the file already reads that way" in out
    assert "verify (run the tests) or give your final answer" in out
    missing = tools.edit_file("app.py", "a * b", "a * b")
    assert "identical" in missing and "already reads" not in missing


def test_edit_empty_old_string_error(tools):
    assert "empty" in tools.edit_file("app.py", "", "x")


def test_edit_no_match_whitespace_hint(tools, project):
    (project / "f.py").write_text("def f():\n    if x:\n        return 1\n")
    out = tools.edit_file("f.py", "if x:\n    return 1", "if x:\n    return 2")
    assert out.startswith("Error:")
    assert "lines 2-3" in out and "whitespace/indentation differs" in out
    assert "        return 1" in out


def test_edit_no_match_shows_closest_region_and_difference(tools, project):
    body = "".join(f"def f{i}(x):\n    return x * {i}\n\n" for i in range(50))
    (project / "g.py").write_text(body)
    out = tools.edit_file("g.py", "def f30(x):\n    return x + 30", "def f30(x):\n    return x - 30")
    assert out.startswith("Error:")
    assert "closest region is lines 91-92" in out
    assert "-    return x + 30" in out and "+    return x * 30" in out
    assert "    91\tdef f30(x):" in out


def test_edit_guessed_content_gets_the_whole_small_file(tools, project):
    (project / "wc.py").write_text("def count(text):\n    return {\n        \"words\": len(text.split()),\n    }\n")
    out = tools.edit_file("wc.py", "print('Total words:', len(words))", "print(len(words))")
    assert out.startswith("Error:") and "probably guessing" in out
    assert "whole file (4 lines)" in out
    assert '     3\t        "words": len(text.split()),' in out and "     1\tdef count(text):" in out
    big = "".join(f"line_{i} = {i}\n" for i in range(400))
    (project / "big.py").write_text(big)
    out = tools.edit_file("big.py", "print('Total words:', len(words))", "x")
    assert "probably guessing" not in out and "closest region" in out


def test_edit_keeps_crlf(tools, project):
    (project / "w.py").write_bytes(b"a = 1\r\nb = 2\r\nc = 3\r\n")
    out = tools.edit_file("w.py", "a = 1\nb = 2\n", "a = 10\nb = 20\n")
    assert out.startswith("Edited")
    assert (project / "w.py").read_bytes() == b"a = 10\r\nb = 20\r\nc = 3\r\n"


def test_edit_keeps_encoding_and_mode(tools, project):
    path = project / "latin.txt"
    path.write_bytes("café = 1\n".encode("latin-1"))
    path.chmod(0o750)
    tools.edit_file("latin.txt", "= 1", "= 2")
    assert path.read_bytes() == "café = 2\n".encode("latin-1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o750


def test_edit_keeps_utf8_bom(tools, project):
    path = project / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfhello\n")
    tools.edit_file("bom.txt", "hello", "world")
    assert path.read_bytes() == b"\xef\xbb\xbfworld\n"


def test_edit_unencodable_text_is_error(tools, project):
    path = project / "latin.txt"
    path.write_bytes("café\n".encode("latin-1"))
    out = tools.edit_file("latin.txt", "caf", "☃")
    assert out.startswith("Error:") and "encoding" in out
    assert path.read_bytes() == "café\n".encode("latin-1")


def test_edit_missing_file_and_binary(tools, project):
    assert "does not exist" in tools.edit_file("nope.py", "a", "b")
    (project / "b.bin").write_bytes(b"\x00\x00")
    assert "binary" in tools.edit_file("b.bin", "a", "b")


def test_edit_replace_all_string_flag(tools, project):
    (project / "m.py").write_text("q\nq\n")
    assert "(+2 -2, 2 replacements)" in tools.edit_file("m.py", "q", "r", replace_all="true")


# -- stale edits ----------------------------------------------------------------------------------


def test_stale_edit_refused_after_outside_change(tools, project):
    tools.read_file("app.py")
    path = project / "app.py"
    path.write_text("def add(a, b):\n    return b - a  # changed by the user\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    out = tools.edit_file("app.py", "b - a", "a + b")
    assert out.startswith("Error:") and "changed on disk" in out
    assert tools.write_file("app.py", "x").startswith("Error:")
    tools.read_file("app.py")
    assert tools.edit_file("app.py", "b - a", "a + b").startswith("Edited")


def test_own_writes_do_not_make_file_stale(tools):
    tools.read_file("app.py")
    assert tools.edit_file("app.py", "a - b", "a * b").startswith("Edited")
    assert tools.edit_file("app.py", "a * b", "a + b").startswith("Edited")


# -- previews -------------------------------------------------------------------------------------


def test_preview_does_not_touch_files(tools, project):
    before = (project / "app.py").read_bytes()
    diff = tools._preview("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"})
    assert "+    return a + b" in diff
    assert (project / "app.py").read_bytes() == before
    diff = tools._preview("write_file", {"path": "new.txt", "content": "hello\n"})
    assert "+hello" in diff and not (project / "new.txt").exists()
    assert tools._preview("execute_command", {"command": "ls"}) == "$ ls"


def test_preview_never_reads_outside_root(tools, project, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET\n")
    out = tools._preview("write_file", {"path": "../secret.txt", "content": "x"})
    assert "TOP SECRET" not in out and "outside" in out
    (project / "link").symlink_to(secret)
    out = tools._preview("edit_file", {"path": "link", "old_string": "TOP", "new_string": "x"})
    assert "TOP SECRET" not in out and "outside" in out


# -- execute_command through the toolbox ------------------------------------------------------------


def test_execute_command_basic(tools, project):
    out = tools.execute_command("echo hello; echo err >&2; exit 3")
    assert "hello" in out and "err" in out and out.rstrip().endswith("Exit code: 3")


def test_execute_command_bad_timeout(tools):
    assert tools.execute_command("true", timeout="soon").startswith("Error:")
    assert tools.execute_command("  ").startswith("Error:")


def test_execute_command_scrubs_secrets(tools, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret-value")
    out = tools.execute_command("echo key=${OPENAI_API_KEY:-unset}")
    assert "key=unset" in out


def test_sandbox_unavailable_is_an_error_for_the_model(project, monkeypatch):
    from llm_coding_agent.tools import toolbox as tools_module

    monkeypatch.setattr(tools_module, "bwrap_problem", lambda: "bwrap not found")
    t = CodingTools(str(project), sandbox="auto")
    out = t.execute_command("echo hi")
    assert out.startswith("Error:") and "bwrap not found" in out
    t._allow_unsandboxed()
    assert "hi" in t.execute_command("echo hi")


@pytest.mark.parametrize("path", [".git/config", ".git/hooks/pre-commit", "./.git/hooks/../config"])
def test_git_config_and_hooks_are_not_writable(tools, project, path):
    (project / ".git" / "hooks").mkdir(parents=True)
    (project / ".git" / "config").write_text("[core]\n")
    assert tools.write_file(path, "[core]\n\tpager = sh -c evil\n").startswith("Error:")
    assert (project / ".git" / "config").read_text() == "[core]\n"
    assert not (project / ".git" / "hooks" / "pre-commit").exists()
    assert tools.write_file(".git/info/exclude", "x\n").startswith("Created")


def test_missing_file_suggests_same_name_elsewhere(tools, project):
    out = tools.read_file("src/app.py")
    assert out.startswith("Error:") and "did you mean app.py?" in out
    out = tools.edit_file("lib/app.py", "a - b", "a + b")
    assert "did you mean app.py?" in out
    assert "list_files" in tools.read_file("nothing_like_it.py")


def test_identical_write_is_reported_unchanged(tools, project):
    before = (project / "app.py").stat().st_mtime_ns
    out = tools.write_file("app.py", "def add(a, b):\n    return a - b\n")
    assert out.startswith("Unchanged: app.py already has exactly this content")
    assert (project / "app.py").stat().st_mtime_ns == before


def test_edit_applied_twice_is_refused_instead_of_inserting_twice(tools, project):
    (project / "acc.py").write_text("class A:\n    def deposit(self, amount):\n        self.b += amount\n")
    edit = ("    def deposit(self, amount):", "    def deposit(self, amount):\n        if amount <= 0:\n            raise ValueError")
    assert tools.edit_file("acc.py", *edit).startswith("Edited acc.py (+2 -0)")
    again = tools.edit_file("acc.py", *edit)
    assert again.startswith("Error:") and "applied already" in again and "line 2" in again
    assert (project / "acc.py").read_text().count("raise ValueError") == 1
    # A replacement sent again after it succeeded is named as such, not as "not found".
    (project / "p.py").write_text("def f(p):\n    return p * (1 + 0.1)\n")
    fix = ("return p * (1 + 0.1)", "return p * (1 - 0.1)")
    assert tools.edit_file("p.py", *fix).startswith("Edited")
    again = tools.edit_file("p.py", *fix)
    assert "applied already" in again and "from line 2" in again and "closest region" not in again
    # ...but a short or unrelated new_string that happens to be in the file is an ordinary miss.
    (project / "c.json").write_text('{"size": 20, "debug": true}\n')
    assert "applied already" not in tools.edit_file("c.json", '"size": 10', "20")
    assert "applied already" not in tools.edit_file("c.json", "pool = make_pool()", '{"size": 20, "debug": true}')
    # replace_all, or an insertion whose result is not there yet, still works.
    (project / "b.py").write_text("x = 1\ny = 2\nx = 1\n")
    assert tools.edit_file("b.py", "x = 1", "x = 1  # one", replace_all=True).startswith("Edited")
