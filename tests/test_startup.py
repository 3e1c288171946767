"""Start-up stays cheap, checked by what is imported and what is run rather than by timing
(bench/startup.py measures the time): llm loads this plugin for every command, and `llm code`
should draw its prompt without waiting for work the first message can do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from llm_coding_agent.tools import sandbox as sandbox_module

REPO = Path(__file__).resolve().parent.parent

#: Never imported just because the plugin is installed (or by `llm code --help`).
HEAVY = ("rich", "prompt_toolkit", "bashlex", "xllamacpp")
AGENT = ("llm_coding_agent.agent", "llm_coding_agent.cli.session", "llm_coding_agent.cli.ui",
         "llm_coding_agent.safety.rules", "llm_coding_agent.tools.toolbox")


def _modules_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter with only this plugin (no other installed plugin) and
    return {"modules": [...], "out": ...} as it printed them."""
    script = f"""
import json, sys, io, contextlib
from llm.plugins import pm
import llm_coding_agent.plugin as plugin
pm.register(plugin, name="coding_agent")
out = io.StringIO()
with contextlib.redirect_stdout(out):
{chr(10).join('    ' + line for line in code.strip().splitlines())}
print(json.dumps({{"modules": sorted(sys.modules), "out": out.getvalue()}}))
"""
    env = dict(os.environ, LLM_LOAD_PLUGINS="", PYTHONPATH=os.pathsep.join(
        [str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _loaded(modules: list[str], names) -> list[str]:
    return [m for m in modules if any(m == n or m.startswith(n + ".") for n in names)]


def test_every_llm_command_loads_the_plugin_without_heavy_imports():
    # `llm --help` (llm.cli runs register_commands at import) and `llm models` (register_models).
    result = _modules_after("""
import llm.cli
from click.testing import CliRunner
CliRunner().invoke(llm.cli.cli, ["--help"])
import llm
ids = [m.model.model_id for m in llm.get_models_with_aliases()]
print("code-local" in ids, " code " in CliRunner().invoke(llm.cli.cli, ["--help"]).output)
""")
    assert result["out"].split()[-2:] == ["True", "True"]  # the model and the command are there
    assert _loaded(result["modules"], HEAVY + AGENT) == []
    # The model's module is registered without its runtime and weights modules doing any work:
    # they are small, but nothing of llama.cpp itself is touched.
    assert "xllamacpp" not in result["modules"]


def test_llm_code_help_imports_no_agent_and_no_ui():
    result = _modules_after("""
import llm.cli
from click.testing import CliRunner
print(CliRunner().invoke(llm.cli.cli, ["code", "--help"]).output)
""")
    assert "settings.json" in result["out"]  # the help names the real settings path
    assert _loaded(result["modules"], HEAVY + AGENT) == []


def test_registering_the_tools_imports_only_the_tools_layer():
    result = _modules_after("""
from llm_coding_agent.plugin import register_tools
register_tools(lambda tool: print(tool.__name__))
""")
    assert result["out"].strip() == "CodingTools"
    assert _loaded(result["modules"], HEAVY + ("llm_coding_agent.agent", "llm_coding_agent.cli",
                                               "llm_coding_agent.safety")) == []


def test_the_lazy_tool_prefix_matches_the_toolbox():
    from llm_coding_agent.tools import CODING_TOOL_PREFIX, CodingTools

    assert CODING_TOOL_PREFIX == CodingTools.__name__ + "_"


# -- what runs before the first prompt --------------------------------------------------------------


@pytest.fixture
def started_processes(monkeypatch):
    """Every process started (argv), recorded without changing what happens."""
    started: list = []
    real_init = subprocess.Popen.__init__

    def recording_init(self, args, *rest, **kwargs):
        # This thread's only: a probe thread another test started may still be finishing.
        if threading.current_thread() is threading.main_thread():
            started.append(args)
        real_init(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", recording_init)
    return started


def test_building_a_session_starts_no_process(model, project, started_processes, monkeypatch):
    # No git (undo snapshots start with the first turn), no rg, no bwrap: the sandbox check
    # belongs to the header, which `llm code` starts early in a thread (next test).
    from llm_coding_agent.cli.session import Session

    monkeypatch.setattr(sandbox_module, "_PROBLEMS", {})
    session = Session({"model": "scripted", "root": str(project)})
    assert session.agent.model.model_id == "scripted"
    assert started_processes == []


def test_the_sandbox_probe_started_early_is_waited_for_not_repeated(monkeypatch):
    monkeypatch.setattr(sandbox_module, "_PROBLEMS", {})
    monkeypatch.setattr(sandbox_module, "find_bwrap", lambda: "/fake/bwrap")
    probing, release, second_asked = threading.Event(), threading.Event(), threading.Event()
    probes = []

    def slow_probe(bwrap):
        probes.append(bwrap)
        probing.set()
        release.wait(30)
        return "bwrap cannot start here: fake"

    monkeypatch.setattr(sandbox_module, "_probe", slow_probe)
    sandbox_module.probe_in_background()
    assert probing.wait(30)
    answers = []

    def header_asks():
        second_asked.set()
        answers.append(sandbox_module.bwrap_problem())

    asker = threading.Thread(target=header_asks)
    asker.start()
    assert second_asked.wait(30)
    release.set()
    asker.join(30)
    assert answers == ["bwrap cannot start here: fake"]
    assert probes == ["/fake/bwrap"]  # one probe, shared


def test_llm_code_header_shows_the_sandbox_answer_of_the_early_probe(model, project, monkeypatch):
    from click.testing import CliRunner
    from llm.cli import cli

    monkeypatch.setattr(sandbox_module, "_PROBLEMS", {})
    monkeypatch.setattr(sandbox_module, "find_bwrap", lambda: None)
    result = CliRunner().invoke(cli, ["code", "-m", "scripted", "-d", str(project)], input="!quit\n")
    assert result.exit_code == 0, result.output
    assert "NOT sandboxed: bwrap not found" in result.output.splitlines()[0]


# -- the benchmark's attribution of import time -----------------------------------------------------


def test_bench_attributes_imports_to_our_modules_and_run_time_imports_to_their_package():
    sys.path.insert(0, str(REPO / "bench"))
    import startup

    # -X importtime output is post-order: children first, two spaces of indent per level.
    log = "\n".join([
        "import time: self [us] | cumulative | imported package",
        "import time:       100 |        100 |     rich.text",
        "import time:       300 |        400 |   llm_coding_agent.cli.live",
        "import time:        50 |        450 | llm_coding_agent.cli.session",
        "import time:      2000 |       2000 |   prompt_toolkit.application",
        "import time:      5000 |       7000 | prompt_toolkit",
        "import time:        70 |         70 | json",
    ])
    roots = startup.parse_importtime(log)
    assert [r.name for r in roots] == ["llm_coding_agent.cli.session", "prompt_toolkit", "json"]
    rows, total = startup.attribute(roots, baseline_names={"json"})
    by_module = {row[0]: row for row in rows}
    assert by_module["llm_coding_agent.cli.live"][1] == "0.4"  # its own 0.3 ms + rich's 0.1 ms
    assert by_module["prompt_toolkit (imported at run time)"][1:] == ["7.0", "prompt_toolkit 7"]
    assert total == pytest.approx(7.45)
    assert startup.import_chain(roots, "rich.text") == (
        "llm_coding_agent.cli.session → llm_coding_agent.cli.live → rich.text")
