"""The built-in model with its real weights (``LLM_CODE_LOCAL_MODEL`` names them; CI passes the file
``shared/localmodel/serve.sh`` already fetched, so nothing is downloaded twice).

The last test is the new user's first minute: a fresh clone, a fresh virtual environment, no keys
and no llm configuration, and the README's first command, run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import llm
import pytest

from llm_coding_agent import CodingAgent

from conftest import REAL_LOCAL_WEIGHTS

REPO = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.localmodel,
    pytest.mark.skipif(
        not (REAL_LOCAL_WEIGHTS and Path(REAL_LOCAL_WEIGHTS).is_file()),
        reason="set LLM_CODE_LOCAL_MODEL to the built-in model's GGUF file to run these",
    ),
    pytest.mark.skipif(
        __import__("importlib").util.find_spec("xllamacpp") is None,
        reason="needs the [local] extra (xllamacpp)",
    ),
]


@pytest.fixture
def weights(monkeypatch) -> str:
    monkeypatch.setenv("LLM_CODE_LOCAL_MODEL", REAL_LOCAL_WEIGHTS)
    return REAL_LOCAL_WEIGHTS


def test_real_weights_answer_and_make_a_well_formed_tool_call(weights, tmp_path):
    (tmp_path / "notes.txt").write_text("Project facts:\nThe launch code word is PELICAN-7731.\n")
    calls = []
    agent = CodingAgent(model="code-local", root=str(tmp_path), approve=True, undo=False, sandbox="off",
                        chain_limit=4, attach_files=False, on_tool=lambda c, r: calls.append((c, r)),
                        options={"n_ctx": 8192})
    result = agent.run("Read the file notes.txt with the read_file tool and tell me the launch code word.")
    # The call came back as a real tool call (llama.cpp's grammar), not as text the agent recovered.
    real_calls = [c for c, _ in calls if not (c.tool_call_id or "").startswith("text")]
    assert any(c.name.endswith("read_file") and c.arguments.get("path") == "notes.txt" for c in real_calls), calls
    assert "PELICAN-7731" in result.text
    assert result.usage.input and result.usage.output


def _readme_first_command() -> str:
    text = (REPO / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)\n```", text, re.S)
    assert block, "the README starts with a bash block"
    return block.group(1).strip()


def test_readme_first_command_in_a_fresh_venv_with_no_keys(tmp_path):
    command = _readme_first_command()
    assert "llm code" in command and "pip install" in command
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    user_dir = tmp_path / "llm-user"  # empty: no keys, no default model, no configuration
    user_dir.mkdir()
    env = {
        key: value for key, value in os.environ.items()
        if not key.endswith(("_API_KEY", "_TOKEN")) and not key.startswith(("LLM_", "VIRTUAL_ENV", "PYTHON"))
    }
    env.update(
        PATH=f"{venv / 'bin'}:{env.get('PATH', '')}", VIRTUAL_ENV=str(venv), LLM_USER_PATH=str(user_dir),
        LLM_CODE_LOCAL_MODEL=REAL_LOCAL_WEIGHTS, LLM_CODE_LOCAL_MODEL_DIR=str(tmp_path / "models"),
        PIP_DISABLE_PIP_VERSION_CHECK="1", NO_COLOR="1",
    )
    done = subprocess.run(
        ["bash", "-c", command], cwd=clone, env=env, stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=900,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "using the built-in local model code-local" in output, output[-3000:]
    # The interactive session answered, then ended at the end of input.
    assert "Traceback" not in output
    answer = done.stdout.split("conversation ", 1)[-1]
    assert len(re.findall(r"[A-Za-z]{3,}", answer)) >= 10, output[-3000:]
    assert not list((tmp_path / "models").glob("*.gguf")), "the given weights were used, not fetched"
