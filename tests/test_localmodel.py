"""End-to-end with a real model: enabled when LLM_CODE_TEST_MODEL names one (CI: the local
Qwen2.5-Coder served by ../shared/localmodel/serve.sh, registered as `local-qwen`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import llm
import pytest

from llm_coding_agent import CodingAgent

MODEL = os.environ.get("LLM_CODE_TEST_MODEL")
pytestmark = [
    pytest.mark.localmodel,
    pytest.mark.skipif(not MODEL, reason="set LLM_CODE_TEST_MODEL to run real-model tests"),
]


@pytest.fixture
def real_model(user_dir):
    # The autouse fixture gave us an empty llm user dir: bring the model registration along.
    source = os.environ.get("LLM_CODE_TEST_USER_PATH")
    if source and (Path(source) / "extra-openai-models.yaml").exists():
        shutil.copy(Path(source) / "extra-openai-models.yaml", user_dir / "extra-openai-models.yaml")
    try:
        return llm.get_model(MODEL)
    except llm.UnknownModelError:
        pytest.skip(f"model {MODEL} is not registered (set LLM_CODE_TEST_USER_PATH)")


def succeeds_once_in(tries: int, attempt, tmp_path: Path, what: str) -> None:
    """A 1.5B model is not deterministic across prompts (the root path and date differ each run),
    so the claims tested are "it can": one of ``tries`` fresh attempts must succeed.
    ``attempt(root)`` returns None on success, else a description of what happened."""
    failures = []
    for number in range(tries):
        root = tmp_path / f"attempt{number}"
        root.mkdir()
        failure = attempt(root)
        if failure is None:
            return
        failures.append(failure)
    pytest.fail(f"no attempt {what}: {failures}")


def test_real_model_reads_a_file_and_answers_with_its_fact(real_model, tmp_path):
    def attempt(root: Path):
        (root / "notes.txt").write_text("Project facts:\nThe launch code word is PELICAN-7731.\n")
        calls, streamed = [], []
        # attach_files=False: the claim is about the tool round trip, so notes.txt must not
        # arrive attached to the request.
        agent = CodingAgent(model=real_model, root=str(root), approve=True, undo=False, sandbox="off",
                            chain_limit=6, on_tool=lambda c, r: calls.append((c.name, r.output)),
                            on_text=streamed.append, attach_files=False)
        result = agent.run(
            "Read the file notes.txt with the read_file tool and tell me the launch code word."
        )
        read_it = any(name.endswith("read_file") and "PELICAN-7731" in out for name, out in calls)
        # The fact must come back from the model after the read (its answer, or what it wrote).
        answered = "PELICAN-7731" in result.text or "PELICAN-7731" in "".join(streamed)
        if not (read_it and answered):
            return [name for name, _ in calls], result.stop_reason, result.text[:200]

    succeeds_once_in(3, attempt, tmp_path, "read the file and answered with its fact")


def test_real_model_answers_from_a_file_named_in_the_request(real_model, tmp_path):
    # The named file arrives with the request, so the fact is available from the first answer.
    def attempt(root: Path):
        (root / "settings.py").write_text('DEBUG = False\nLAUNCH_CODE = "HERON-4417"\nRETRIES = 3\n')
        agent = CodingAgent(model=real_model, root=str(root), approve=True, undo=False, sandbox="off",
                            chain_limit=3, options={"max_tokens": 200})
        result = agent.run("What is the value of LAUNCH_CODE in settings.py? Answer with the value only.")
        if "HERON-4417" not in result.text:
            return result.stop_reason, [c.name for c, _ in result.tool_calls], result.text[:200]

    succeeds_once_in(3, attempt, tmp_path, "answered with the value from the attached file")


def test_exploration_larger_than_the_window_completes(real_model, tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    for name, word in (("part1.log", "ALPHA-11"), ("part2.log", "BRAVO-22")):
        lines = [f"code word: {word}\n"] + [f"{name} entry {i}: all systems nominal, nothing to report\n" for i in range(650)]
        (root / name).write_text("".join(lines))
    requests = []
    agent = CodingAgent(model=real_model, root=str(root), approve=True, undo=False, sandbox="off",
                        chain_limit=4, options={"max_tokens": 400})
    assert agent.context.window == 16_384
    original = agent.consume

    def consume(response, result):
        original(response, result)
        requests.append(response.usage().input)

    agent.consume = consume
    result = agent.run(
        "Call read_file on part1.log and on part2.log (both files, complete), then tell me the code word "
        "on the first line of each."
    )
    assert result.stop_reason in ("done", "limit", "repeated_failures", "repeated_calls")
    total_read = sum(len(r.output) for c, r in result.tool_calls if c.name.endswith("read_file"))
    reported = [n for n in requests if n]
    # Reported input tokens where the server gives them, our estimate of the last request otherwise.
    assert all(n <= 16_384 for n in reported), requests
    assert agent.context.last_request[0] <= 16_384
    if total_read == 0:
        pytest.skip("the model answered without reading the files, so the window was not exercised")
