"""What the user sees while the agent works: the tool-start hook, a command's output streamed and
collapsed, `!output`, --json event timing, streamed answers that do not repeat, diff previews with
line numbers and intra-line highlights, and the status line after a turn."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from llm.cli import cli
from rich.console import Console

from conftest import Step, tool
from llm_coding_agent import CodingAgent
from llm_coding_agent.tools import CodingTools
from llm_coding_agent.tools.files import unified_diff
from llm_coding_agent.tools.shell import run_command

ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")


def run(args, input=None):
    return CliRunner().invoke(cli, ["code", *args], input=input, catch_exceptions=False)


def base(project, *extra):
    return ["-m", "scripted", "-d", str(project), "--sandbox", "off", *extra]


# -- the agent's tool-start hook and the shell's output callback -----------------------------------


def test_on_tool_start_fires_after_approval_and_before_the_tool_runs(model, project):
    model.script(
        Step(tool_calls=[tool("write_file", path="new.txt", content="x"), tool("write_file", path="no.txt", content="y")]),
        "done",
    )
    events = []

    def approve(t, call):
        events.append(("approve", call.arguments["path"]))
        return call.arguments["path"] == "new.txt"

    def started(call):
        # The approval came first, and the tool has not run yet.
        events.append(("start", call.arguments["path"], (project / "new.txt").exists()))

    agent = CodingAgent(
        model=model, root=str(project), approve=approve, undo=False, sandbox="off",
        on_tool_start=started, on_tool=lambda c, r: events.append(("end", c.arguments["path"])),
    )
    agent.run("write them")
    assert events == [
        ("approve", "new.txt"), ("start", "new.txt", False), ("end", "new.txt"),
        # A declined call never starts, but still ends with its result.
        ("approve", "no.txt"), ("end", "no.txt"),
    ]


def test_run_command_hands_output_to_a_callback_as_it_arrives(tmp_path):
    # The command waits for a file that only the callback creates on seeing the first line: it
    # can finish (instead of timing out) only if output is handed over while it runs.
    received = []

    def on_output(text):
        received.append(text)
        if "first" in "".join(received):
            (tmp_path / "go").touch()

    out = run_command(
        "echo first; while [ ! -f go ]; do sleep 0.02; done; echo second", tmp_path, 20, on_output=on_output
    )
    assert not out.timed_out and out.exit_code == 0
    assert "".join(received) == "first\nsecond\n" == out.text


def test_coding_tools_output_callback_is_not_part_of_the_tool(project):
    tools = CodingTools(str(project), sandbox="off")
    received = []
    tools._on_output = received.append
    result = tools.execute_command("echo hello")
    assert "hello" in "".join(received) and result == "hello\nExit code: 0"
    schema = next(t for t in tools.tools() if t.name.endswith("execute_command")).input_schema
    assert set(schema["properties"]) == {"command", "timeout"}


# -- --json: tool_call when the call starts ---------------------------------------------------------


def test_json_tool_call_event_is_emitted_when_the_call_starts(model, project, tmp_path):
    functions = tmp_path / "probe.py"
    functions.write_text(
        "import json, sys\n\n"
        "def probe() -> str:\n"
        '    "Say that the tool runs now."\n'
        '    sys.stdout.write(json.dumps({"type": "probe_running"}) + "\\n")\n'
        '    return "probed"\n'
    )
    model.script(Step(tool_calls=[("probe", {})]), "ok")
    result = run(base(project, "-p", "probe it", "--json", "--yolo", "--functions", str(functions)))
    assert result.exit_code == 0, result.output
    types = [json.loads(line)["type"] for line in result.stdout.splitlines()]
    assert types.index("tool_call") < types.index("probe_running") < types.index("tool_result")


def test_json_call_stopped_by_ctrl_c_still_gets_its_result(model, project, tmp_path):
    functions = tmp_path / "stop.py"
    functions.write_text('def stop() -> str:\n    "Be interrupted."\n    raise KeyboardInterrupt\n')
    model.script(Step(tool_calls=[("stop", {})]))
    result = run(base(project, "-p", "stop", "--json", "--yolo", "--functions", str(functions)))
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["type"] for e in events] == ["tool_call", "tool_result", "final"]
    assert events[1]["error"] is True and "interrupted" in events[1]["output"]
    assert events[2]["status"] == "interrupted"


def test_json_declined_call_has_its_tool_call_before_its_result(model, project):
    model.script(Step(tool_calls=[tool("write_file", path="x.txt", content="x")]), "could not")
    result = run(base(project, "-p", "write", "--json"))
    events = [json.loads(line) for line in result.stdout.splitlines()]
    types = [e["type"] for e in events]
    assert types.count("tool_call") == 1 and types.index("tool_call") + 1 == types.index("tool_result")
    assert events[types.index("tool_result")]["error"] is True


# -- a finished command's output, !output, the status line ------------------------------------------


def test_command_output_shown_collapsed_and_output_command_prints_it_all(model, project):
    model.script(Step(tool_calls=[tool("execute_command", command="seq 1 200")]), "counted")
    result = run(base(project), input="count\ny\n!output\n!quit\n")
    assert result.exit_code == 0, result.output
    out = result.stdout
    summary = out.index("execute_command seq 1 200 → exit 0")
    collapsed = out[summary:out.index("counted")]
    assert [line.strip() for line in collapsed.splitlines()[1:]] == [
        "1", "2", "3", "… +194 lines (!output to see all)", "198", "199", "200"
    ]
    shown_in_full = out[out.index("counted"):]
    assert "\n100\n" in shown_in_full and "Exit code: 0" in shown_in_full


def test_failed_command_shows_more_of_its_end(model, project):
    model.script(Step(tool_calls=[tool("execute_command", command="seq 1 100; exit 3")]), "it failed")
    result = run(base(project, "--yolo"), input="run\n")
    out = result.stdout
    collapsed = out[out.index("→ exit 3"):out.index("it failed")]
    lines = [line.strip() for line in collapsed.splitlines()[1:]]
    assert lines[:3] == ["1", "2", "… +78 lines (!output to see all)"]
    assert lines[3:] == [str(n) for n in range(81, 101)]


def test_output_command_before_any_command_ran(model, project):
    model.script(Step(tool_calls=[tool("execute_command", command="echo never")]), "ok")
    result = run(base(project), input="run\nn\n!output\n")  # the command is declined
    assert "no command has run in this session yet" in result.stdout


def test_headless_print_mode_shows_no_command_output(model, project):
    model.script(Step(tool_calls=[tool("execute_command", command="seq 1 50")]), "fifty")
    result = run(base(project, "-p", "count", "--yolo"))
    assert result.exit_code == 0
    assert "execute_command seq 1 50 → exit 0" in result.stderr
    assert "!output" not in result.stderr and "\n25\n" not in result.stderr + result.stdout
    assert "context" not in result.stderr  # no status line either


def test_status_line_after_each_turn(model, project):
    model.script(Step("one", usage=(1200, 30)), Step("two", usage=(1500, 40)))
    result = run(base(project), input="first\nsecond\n")
    status = [line for line in result.stdout.splitlines() if line.startswith("scripted · ")]
    assert len(status) == 2
    assert re.fullmatch(
        r"scripted · \d+\.\ds · context ~?[\d.]+k?/[\d.]+k \(\d+%\) · turn 1\.2k in, 30 out · session 1\.2k in, 30 out",
        status[0],
    ), status[0]
    assert "turn 1.5k in, 40 out · session 2.7k in, 70 out" in status[1]


# -- streaming Markdown ---------------------------------------------------------------------------


def test_finished_blocks_split_at_headings_items_paragraphs_and_fences():
    from llm_coding_agent.cli.live import finished_blocks

    blocks, used = finished_blocks("## Title\n\nIntro line\n1. a\n2. b\n3. c")
    assert [b.text for b in blocks] == ["## Title", "Intro line", "1. a", "2. b"]
    assert "## Title\n\nIntro line\n1. a\n2. b\n" == "## Title\n\nIntro line\n1. a\n2. b\n3. c"[:used]
    # An open code fence is not finished, whatever it contains; a paragraph waits for what follows.
    assert finished_blocks("```py\nx = 1\n\n# not a heading\n")[0] == []
    assert finished_blocks("para\n\n")[0] == []
    assert [b.text for b in finished_blocks("para\n\n  more of an item\n\nnext")[0]] == ["para\n\n  more of an item"]
    assert [b.text for b in finished_blocks("tail without newline", final=True)[0]] == ["tail without newline"]


def test_streamed_answer_is_printed_once_whatever_its_length():
    from llm_coding_agent.cli.live import MarkdownStream

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=60, height=12, color_system=None)
    stream = MarkdownStream(console)
    text = "## Unique Title\n\n" + "".join(f"1. item {n}\n" for n in range(1, 31)) + "\nThe end.\n"
    for piece in re.findall(r".*?\n", text):
        stream.feed(piece)
    stream.finish()
    plain = ANSI.sub("", out.getvalue())
    assert plain.count("Unique Title") == 1
    assert plain.count("item 1\n") <= 2 and "item 30" in plain and "The end." in plain
    # Numbered on as one list would be, although each item is printed on its own.
    assert re.search(r"30 item 30", plain)


# -- diffs ------------------------------------------------------------------------------------------


def diff_texts(diff, width=None):
    from llm_coding_agent.cli.diffview import diff_texts

    return diff_texts(diff, width)


def _diff():
    before = "def add(a, b):\n    return a - b\n" + "\n".join(f"line {n}" for n in range(3, 20)) + "\n"
    after = before.replace("a - b", "a + b").replace("line 15", "line 15 " + "y" * 100)
    return unified_diff(before, after, "app.py")


def test_diff_lines_have_a_gutter_with_old_and_new_line_numbers():
    texts = [t.plain for t in diff_texts(_diff())]
    assert texts[:3] == ["--- a/app.py", "+++ b/app.py", "@@ -1,5 +1,5 @@"]
    assert " 1  1  def add(a, b):" in texts
    assert " 2    -    return a - b" in texts and "    2 +    return a + b" in texts
    assert "15    -line 15" in texts


def test_diff_highlights_only_the_changed_characters():
    texts = diff_texts(_diff())
    removed = next(t for t in texts if t.plain.endswith("return a - b"))
    added = next(t for t in texts if t.plain.endswith("return a + b"))
    for text, char in ((removed, "-"), (added, "+")):
        highlighted = [text.plain[s.start:s.end] for s in text.spans if "reverse" in str(s.style)]
        assert highlighted == [char]
    # A rewritten line is not an edit: nothing inside it is highlighted.
    rewrite = diff_texts(unified_diff("alpha beta\n", "completely other words\n", "f"))
    assert not any("reverse" in str(s.style) for t in rewrite for s in t.spans)


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_long_diff_lines_are_cropped_with_a_marker_at_the_terminal_width():
    from llm_coding_agent.cli.ui import TerminalUI

    screen = Terminal()
    ui = TerminalUI(stdout=screen)
    ui.console.width = 50
    ui.show_diff(_diff())
    lines = ANSI.sub("", screen.getvalue()).splitlines()
    assert all(len(line) <= 50 for line in lines)
    assert len(lines) == len(_diff().splitlines())  # nothing wrapped into a second line
    assert " 2    -    return a - b" in lines  # with the gutter
    long_added = next(line for line in lines if "+line 15" in line)
    assert long_added.endswith("…")


def test_a_change_beyond_the_width_is_scrolled_into_view():
    before = "x = '" + "y" * 100 + "z'\n"
    texts = diff_texts(unified_diff(before, before.replace("z", "Q"), "f"), 60)
    added = next(t for t in texts if "Q" in t.plain)
    assert "…" in added.plain[:10] and len(added.plain) < 60


# -- output collapse helpers ------------------------------------------------------------------------


def test_command_output_lines_drop_the_exit_line_and_the_timeout_error():
    from llm_coding_agent.cli.live import collapse_output, command_output_lines

    assert command_output_lines("a\nb\nExit code: 1") == ["a", "b"]
    assert command_output_lines("(no output)\nExit code: 0") == []
    assert command_output_lines("Error: command timed out after 5 s. Output so far:\npartial") == ["partial"]
    assert command_output_lines("50%\r100%\x1b[31m red\x1b[0m\nExit code: 0") == ["100% red"]
    assert collapse_output(["1", "2", "3"], failed=False) == ["1", "2", "3"]


# -- in a terminal ----------------------------------------------------------------------------------

pexpect = pytest.importorskip("pexpect")


def _styled(text: str) -> str:
    """A pattern for ``text`` as a terminal receives it: colour codes may come between any characters."""
    return r"(?:\x1b\[[0-9;]*m)*".join(re.escape(char) for char in text)


def _spawn(project, steps, tmp_path, *args, rows=40, cols=120):
    from test_pty import spawn

    return spawn(project, steps, tmp_path, *args, rows=rows, cols=cols)


def test_running_command_has_a_live_line_with_its_output_and_ctrl_c_names_it(project, tmp_path):
    command = "echo started-marker; sleep 30"
    steps = [{"tool_calls": [["CodingTools_execute_command", {"command": command}]]}, {"text": "after"}]
    child = _spawn(project, steps, tmp_path, "--yolo")
    try:
        child.expect("›")
        child.sendline("run it")
        child.expect(_styled(f"execute_command {command} · 0.") + r"\ds")
        child.expect("started-marker")  # the output, while the command runs
        child.expect(_styled(" · ") + r"[1-9]\.\ds")  # the elapsed time goes on
        child.sendcontrol("c")
        child.expect(_styled(f"Interrupted: execute_command {command} (after ") + r"\d+\.\ds\)")
        child.expect(r"scripted · \d+\.\ds · context")
        child.expect("›")
        assert "Interrupted." not in ANSI.sub("", child.before)
        child.sendline("!quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()


def test_long_streamed_answer_appears_once_in_a_small_terminal(project, tmp_path):
    chunks = ["## Zebra Heading Unique\n", "\n", "Here is the list:\n"]
    chunks += [f"{n}. item number {n} of the long answer\n" for n in range(1, 41)]
    chunks += ["\n", "All forty listed.\n"]
    steps = [{"chunks": chunks, "chunk_delay": 0.03}]
    child = _spawn(project, steps, tmp_path, rows=25, cols=80)
    captured = io.StringIO()
    try:
        child.expect("›")
        child.logfile_read = captured
        child.sendline("list forty things")
        child.expect("All forty listed")
        child.expect("›")
        child.sendline("!quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    plain = ANSI.sub("", captured.getvalue())
    assert plain.count("Zebra Heading Unique") == 1
    assert "item number 40" in plain
