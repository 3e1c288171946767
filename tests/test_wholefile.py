"""Whole-file writes: what the small profile asks for (``write_file`` with the complete content of
a small file) and the guards that keep such a write from losing code the model did not mean to
remove (tools/wholefile.py). Each guard is tested on and off, with negative cases."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Step, tool

from llm_coding_agent import CodingAgent, CodingTools
from llm_coding_agent.agent.profiles import PROFILES
from llm_coding_agent.agent.prompts import system_prompt
from llm_coding_agent.tools.wholefile import dropped_definitions, elision_markers

ACCOUNTS = '''class Account:
    def __init__(self, balance=0):
        self.balance = balance

    def deposit(self, amount):
        self.balance += amount

    def withdraw(self, amount):
        self.balance -= amount


def total(accounts):
    return sum(a.balance for a in accounts)
'''


def small_tools(project) -> CodingTools:
    return CodingTools(str(project), sandbox="off", **PROFILES["small"].toolbox_options())


def default_tools(project) -> CodingTools:
    return CodingTools(str(project), sandbox="off")


@pytest.fixture
def accounts(project) -> Path:
    path = project / "accounts.py"
    path.write_text(ACCOUNTS)
    return path


# -- elision markers: refused in every profile -------------------------------------------------------

LAZY = [
    "class Account:\n    # ... rest of the code unchanged\n\n    def withdraw(self, amount):\n        pass\n",
    "class Account:\n    # ...\n    def withdraw(self, amount):\n        pass\n",
    "# rest of the file remains the same\ndef total(accounts):\n    return 0\n",
    "class Account:\n    # … existing methods …\n    pass\n",
]


@pytest.mark.parametrize("content", LAZY)
@pytest.mark.parametrize("tools", [small_tools, default_tools])
def test_a_write_with_an_elision_marker_is_refused_and_the_file_kept(accounts, project, tools, content):
    out = tools(project).write_file("accounts.py", content)
    assert out.startswith("Error: accounts.py was not written: line "), out
    assert "stands for code you left out" in out and "complete content of accounts.py" in out
    assert accounts.read_text() == ACCOUNTS


@pytest.mark.parametrize("name, content", [
    ("app.js", "function a() {}\n// ...existing code...\n"),
    ("style.css", "body { margin: 0 }\n/* ... */\n"),
    ("page.html", "<p>hi</p>\n<!-- ... rest of the page ... -->\n"),
    ("notes.md", "# Notes\n\n…\n"),
])
def test_markers_in_other_languages(project, name, content):
    (project / name).write_text("original line one\noriginal line two\n")
    out = default_tools(project).write_file(name, content)
    assert out.startswith(f"Error: {name} was not written"), out
    assert (project / name).read_text() == "original line one\noriginal line two\n"


@pytest.mark.parametrize("content", [
    "x = 1\n# ... then compute the total\ny = x + 1\n",  # an ellipsis in a real comment
    "class P:\n    def f(self): ...\n    ...\n",  # Python's ellipsis statement
    "# keep the output format unchanged for old scripts\nx = 1\n",  # "unchanged" in a real comment
    "# the rest of this module is generated\nx = 1\n",  # not an elision of the file being written
])
def test_ordinary_comments_and_python_ellipsis_are_not_markers(project, content):
    (project / "mod.py").write_text("x = 0\n")
    assert default_tools(project).write_file("mod.py", content).startswith("Overwrote mod.py")
    assert (project / "mod.py").read_text() == content


def test_a_marker_the_file_already_had_or_a_new_file_is_not_refused(project):
    (project / "a.py").write_text("x = 1\n# ... rest of the code\n")
    assert default_tools(project).write_file("a.py", "x = 2\n# ... rest of the code\n").startswith("Overwrote")
    assert default_tools(project).write_file("b.py", "# ... rest of the code\n").startswith("Created b.py")
    assert elision_markers("a\n", "a\n    # ... rest unchanged\n", "x.py") == [(2, "# ... rest unchanged")]


# -- dropped definitions: refused under prefer_whole_file (the small profile) ------------------------

ONLY_WITHDRAW = '''class Account:
    def withdraw(self, amount):
        if amount > self.balance:
            raise ValueError("overdrawn")
        self.balance -= amount
'''


def test_a_write_that_leaves_out_methods_is_refused_for_small_models(accounts, project):
    out = small_tools(project).write_file("accounts.py", ONLY_WITHDRAW)
    assert out.startswith("Error: accounts.py was not written: your content leaves out "
                          "Account.__init__, Account.deposit, which the file defines now"), out
    assert "If you do mean to delete them, send this same write_file call again." in out
    assert accounts.read_text() == ACCOUNTS


def test_the_same_write_sent_again_confirms_the_deletion_of_methods_only(accounts, project):
    tools = small_tools(project)
    assert tools.write_file("accounts.py", ONLY_WITHDRAW).startswith("Error:")
    other = ONLY_WITHDRAW.replace("overdrawn", "too much")
    assert tools.write_file("accounts.py", other).startswith("Error:")  # different content: asked again
    out = tools.write_file("accounts.py", ONLY_WITHDRAW)
    assert out.startswith("Overwrote accounts.py") and "total, left out of your content, kept" in out, out
    text = accounts.read_text()
    assert text.startswith(ONLY_WITHDRAW) and "def total(accounts):" in text and "def deposit" not in text


DURATIONS = '''"""Durations."""


def parse_duration(text):
    raise NotImplementedError


def format_duration(seconds):
    return f"{seconds}s"


def _unit(name):
    return name[0]


if __name__ == "__main__":
    print(format_duration(parse_duration("1h")))
'''


def test_functions_a_small_model_leaves_out_are_kept_in_place(project):
    (project / "durations.py").write_text(DURATIONS)
    only = 'def parse_duration(text):\n    return int(text[:-1]) * 3600\n'
    out = small_tools(project).write_file("durations.py", only)
    assert out.startswith("Overwrote durations.py (") and "format_duration, _unit, left out of your content, " \
        "kept as the file had them: write_file never deletes a function or class here" in out, out
    assert (project / "durations.py").read_text() == (
        only + '\n\ndef format_duration(seconds):\n    return f"{seconds}s"\n\n\ndef _unit(name):\n    return name[0]\n'
    )
    # Sending it again changes nothing: the deletion cannot be confirmed by repetition.
    assert small_tools(project).write_file("durations.py", only).startswith("Unchanged: durations.py")


def test_a_left_out_function_goes_before_the_main_block_and_after_its_predecessor(project):
    (project / "durations.py").write_text(DURATIONS)
    content = DURATIONS.replace('def format_duration(seconds):\n    return f"{seconds}s"\n\n\n', "")
    content = content.replace("def _unit(name):\n    return name[0]\n\n\n", "")
    small_tools(project).write_file("durations.py", content)
    assert (project / "durations.py").read_text() == DURATIONS  # both back where they were


@pytest.mark.parametrize("renamed", [
    DURATIONS.replace("format_duration", "show_duration"),                         # same body, same name count
    DURATIONS.replace("format_duration", "show_duration").replace(                 # renamed and another dropped:
        "def _unit(name):\n    return name[0]\n\n\n", ""),                         # the body tells the rename
])
def test_a_renamed_function_is_not_kept_under_its_old_name(project, renamed):
    (project / "durations.py").write_text(DURATIONS)
    out = small_tools(project).write_file("durations.py", renamed)
    text = (project / "durations.py").read_text()
    assert "def format_duration" not in text and "def show_duration" in text, out
    assert ("_unit, left out" in out) == ("def _unit" not in renamed)


def test_a_rename_that_also_drops_the_docstring_is_still_a_rename(project):
    (project / "cart.py").write_text('def calc_total(items):\n    """Sum."""\n    return sum(items)\n\n\n'
                                     "def count(items):\n    return len(items)\n")
    content = "def compute_total(items):\n    return sum(items)\n"  # count dropped too
    out = small_tools(project).write_file("cart.py", content)
    text = (project / "cart.py").read_text()
    assert "def calc_total" not in text and "def count" in text and "count, left out" in out, out


def test_the_default_profile_writes_what_it_is_sent_as_before(accounts, project):
    out = default_tools(project).write_file("accounts.py", ONLY_WITHDRAW)
    assert out.startswith("Overwrote accounts.py")
    assert accounts.read_text() == ONLY_WITHDRAW


def test_a_complete_rewrite_a_rename_and_an_added_function_are_written(accounts, project):
    tools = small_tools(project)
    complete = ACCOUNTS.replace("        self.balance -= amount",
                                "        if amount > self.balance:\n            raise ValueError\n        self.balance -= amount")
    assert tools.write_file("accounts.py", complete).startswith("Overwrote accounts.py")
    renamed = complete.replace("def total(", "def total_balance(")
    assert tools.write_file("accounts.py", renamed).startswith("Overwrote accounts.py")
    assert tools.write_file("accounts.py", renamed + "\n\ndef count(a):\n    return len(a)\n").startswith("Overwrote")
    assert "def count(a)" in accounts.read_text()


def test_dropped_definitions_only_for_python_that_parses():
    assert dropped_definitions(ACCOUNTS, ONLY_WITHDRAW, "notes.txt") == []
    assert dropped_definitions(ACCOUNTS, "def (:\n", "a.py") == []  # the syntax check answers that
    assert dropped_definitions(ACCOUNTS, ACCOUNTS.replace("def total", "def grand_total"), "a.py") == []


def test_the_approval_preview_refuses_a_lossy_write_before_asking(model, accounts, project):
    asked = []
    model.script(Step(tool_calls=[tool("write_file", path="accounts.py", content=ONLY_WITHDRAW)]), "Done.")
    agent = CodingAgent(model="scripted", root=str(project), approve=lambda t, c: asked.append(c) or True,
                        undo=False, sandbox="off", profile="small")
    result = agent.run("make withdraw refuse overdrafts")
    assert asked == []
    assert "leaves out Account.__init__" in result.tool_calls[0][1].output
    assert accounts.read_text() == ACCOUNTS


# -- line numbers copied into a whole file -----------------------------------------------------------

def test_read_file_numbers_copied_into_a_whole_file_are_removed_for_small_models(accounts, project):
    numbered = "".join(f"{n:>6}\t{line}\n" for n, line in enumerate(ACCOUNTS.splitlines(), 1))
    numbered = numbered.replace("self.balance -= amount", "self.balance -= abs(amount)")
    out = small_tools(project).write_file("accounts.py", numbered)
    assert out.startswith("Overwrote accounts.py (") and "the read_file line numbers you copied were removed" in out, out
    assert accounts.read_text() == ACCOUNTS.replace("self.balance -= amount", "self.balance -= abs(amount)")


def test_an_attached_file_copied_whole_loses_its_wrapper_and_numbers(accounts, project):
    changed = ACCOUNTS.replace("+= amount", "+= abs(amount)")
    body = "".join(f"{n:>6}\t{line}\n" for n, line in enumerate(changed.splitlines(), 1))
    out = small_tools(project).write_file("accounts.py", f'<file path="accounts.py">\n{body}</file>')
    assert "the read_file line numbers you copied were removed" in out, out
    assert accounts.read_text() == changed


def test_a_first_line_that_lost_its_number_is_kept_as_code(accounts, project):
    # Measured (native template): the JSON string began with the code of line 1, the rest numbered.
    changed = ACCOUNTS.replace("self.balance -= amount", "self.balance -= abs(amount)")
    lines = changed.splitlines()
    sent = lines[0] + "\n" + "".join(f"{n}\t{line}\n" for n, line in enumerate(lines[1:], 2))
    out = small_tools(project).write_file("accounts.py", sent)
    assert "the read_file line numbers you copied were removed" in out, out
    assert accounts.read_text() == changed


def test_numbers_stay_when_not_every_line_has_them_or_in_the_default_profile(project):
    mixed = "     1\tx = 1\ny = 2\n"
    assert small_tools(project).write_file("data.txt", mixed).startswith("Created data.txt")
    assert (project / "data.txt").read_text() == mixed
    # A bare first line counts only when the second is numbered 2.
    for bare_first in ("x = 0\n     3\ty = 2\n", "x = 0\n     2\ty = 2\nz = 3\n"):
        small_tools(project).write_file("data3.txt", bare_first)
        assert (project / "data3.txt").read_text() == bare_first
    numbered = "     1\tx = 1\n     2\ty = 2\n"
    default_tools(project).write_file("data2.txt", numbered)
    assert (project / "data2.txt").read_text() == numbered


# -- the prompt ---------------------------------------------------------------------------------------

RULE = "write_file with the file's complete new content"


def names(prompt) -> list[str]:
    return [t.name.removeprefix("CodingTools_") for t in prompt.tools]


def test_small_models_change_files_with_whole_writes_only(model, project):
    assert RULE in system_prompt(project, compact=True, whole_file=True)
    assert RULE not in system_prompt(project, compact=True) and RULE not in system_prompt(project)
    model.script("ok", "ok")
    CodingAgent(model="scripted", root=str(project), undo=False, sandbox="off", profile="small").run("hi")
    CodingAgent(model="scripted", root=str(project), undo=False, sandbox="off", profile="default").run("hi")
    small, default = model.prompts
    assert RULE in small.system and "edit_file" not in small.system and "edit_file" not in names(small)
    assert RULE not in default.system and {"read_file", "write_file", "edit_file"} <= set(names(default))


def test_a_model_switch_offers_or_withholds_edit_file_and_disabled_stays_disabled(model, project):
    agent = CodingAgent(model="scripted", root=str(project), undo=False, sandbox="off", profile="small")
    assert "edit_file" not in names(agent)
    agent.config.profile = "default"
    agent.set_model("scripted")
    assert "edit_file" in names(agent) and len(names(agent)) == len(set(names(agent)))
    assert agent.conversation.tools is agent.tools
    agent.config.profile = "small"
    agent.set_model("scripted")
    assert "edit_file" not in names(agent)
    withheld = CodingAgent(model="scripted", root=str(project), undo=False, sandbox="off", disabled_tools=["edit_file"])
    withheld.set_model("scripted")
    assert "edit_file" not in names(withheld)


def test_an_edit_file_call_without_the_tool_is_an_error_naming_the_tools(model, project):
    model.script(Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")]), "Ok.")
    result = CodingAgent(model="scripted", root=str(project), approve=True, undo=False, sandbox="off",
                         profile="small").run("fix add")
    out = result.tool_calls[0][1].output
    assert out.startswith("Error:") and "write_file" in out, out
    assert (project / "app.py").read_text() == "def add(a, b):\n    return a - b\n"


def test_content_cut_short_at_an_unescaped_quote_says_how_to_escape(project):
    # What the grammar-constrained JSON did to `print(f'{counts["words"]}')`: the string ended at ".
    out = small_tools(project).write_file("wc.py", "import sys\n\n\ndef main():\n    print(f'{counts[")
    assert out.startswith("Error: the write would leave wc.py with a SyntaxError"), out
    assert "a double quote (\") in the code probably ended the content string early" in out
    assert not (project / "wc.py").exists()
    other = small_tools(project).write_file("wc.py", 'def f(:\n    return "x"\n')
    assert "double quote" not in other and "Fix the mistake and send the complete content again" in other
    assert "edit_file" not in other  # a write's error does not send a small model to a tool it lacks


# -- lines that only lost their quotes on the way into the JSON string ---------------------------------

DOCUMENTED = '"""A minimal bank account."""\n\n\n' + ACCOUNTS


def test_a_line_that_lost_its_quotes_is_kept_as_the_file_had_it(project):
    # The 1.5B model's right fix, whose docstring line had become `"A minimal bank account.`.
    (project / "accounts.py").write_text(DOCUMENTED)
    fixed = DOCUMENTED.replace("self.balance -= amount", "if amount > self.balance:\n            raise ValueError(amount)\n"
                               "        self.balance -= amount")
    sent = fixed.replace('"""A minimal bank account."""', '"A minimal bank account.')
    out = small_tools(project).write_file("accounts.py", sent)
    assert out.startswith("Overwrote accounts.py (") and "line 1 did not compile as sent and was kept" in out, out
    assert (project / "accounts.py").read_text() == fixed


@pytest.mark.parametrize("sent", [
    DOCUMENTED.replace('"""A minimal bank account."""', '"A bank account.'),        # the words changed too
    DOCUMENTED.replace("self.balance = balance", "self.balance = (balance"),        # not a quote slip
])
def test_nothing_is_restored_that_differs_in_more_than_quotes(project, sent):
    (project / "accounts.py").write_text(DOCUMENTED)
    out = small_tools(project).write_file("accounts.py", sent)
    assert out.startswith("Error: the write would leave accounts.py with a SyntaxError"), out
    assert (project / "accounts.py").read_text() == DOCUMENTED


def test_the_default_profile_and_the_preview_agree_with_what_is_written(project, model):
    (project / "accounts.py").write_text(DOCUMENTED)
    sent = DOCUMENTED.replace('"""A minimal bank account."""', '"A minimal bank account.').replace("+= amount", "+= 2 * amount")
    assert "kept as the file had it" not in default_tools(project).write_file("accounts.py", sent)
    assert (project / "accounts.py").read_text() == sent  # other profiles: written as sent
    (project / "accounts.py").write_text(DOCUMENTED)
    model.script(Step(tool_calls=[tool("write_file", path="accounts.py", content=sent)]), "done")
    agent = CodingAgent(model=model, root=str(project), undo=False, sandbox="off", profile="small", approve=True)
    preview = agent.coding_tools._preview("write_file", {"path": "accounts.py", "content": sent})
    assert '-"""A minimal bank account."""' not in preview and "+        self.balance += 2 * amount" in preview
    agent.run("double deposits")
    assert (project / "accounts.py").read_text() == DOCUMENTED.replace("+= amount", "+= 2 * amount")


# -- a script that edits the file, sent as the file's content ------------------------------------------

SCRIPT = ("with open('accounts.py', 'r') as file:\n    lines = file.readlines()\n"
          "lines[5] = '        self.balance += abs(amount)\\n'\nwith open('accounts.py', 'w') as file:\n"
          "    file.writelines(lines)\n")


def test_a_script_that_opens_the_file_itself_is_refused_even_when_sent_twice(accounts, project):
    tools = small_tools(project)
    for _ in range(2):
        out = tools.write_file("accounts.py", SCRIPT)
        assert out.startswith("Error: accounts.py was not written: your content is a script that opens "
                              "accounts.py itself (open('accounts.py'"), out
    assert accounts.read_text() == ACCOUNTS


def test_a_file_that_opened_itself_before_or_another_file_or_the_default_profile_is_written(project):
    (project / "tool.py").write_text("print(open('tool.py').read())\n")
    assert small_tools(project).write_file("tool.py", "print(open('tool.py').read().upper())\n").startswith("Overwrote")
    (project / "io_utils.py").write_text("def load():\n    return 1\n")
    content = "def load():\n    return open('data.json').read()\n"
    assert small_tools(project).write_file("io_utils.py", content).startswith("Overwrote")
    (project / "accounts.py").write_text(ACCOUNTS)
    assert default_tools(project).write_file("accounts.py", SCRIPT).startswith("Overwrote")
