"""Run the real `llm` CLI with a scripted model, for pseudo-terminal tests.

The script (JSON list of steps: {"text": ..., "tool_calls": [[name, arguments], ...]}) comes from the
file named by SCRIPTED_STEPS; each step is one model response. A step's "chunks" stream one by one,
"chunk_delay" seconds apart (as a model streams a long answer); "echo": true answers first with the
request it received ("got: ...", line breaks as ⏎).
"""

import json
import os
import sys

import llm
from llm.plugins import pm


class PtyScriptedModel(llm.Model):
    model_id = "scripted"
    supports_tools = True
    can_stream = True

    def __init__(self, steps):
        self.steps = steps

    def execute(self, prompt, stream, response, conversation):
        step = self.steps.pop(0) if self.steps else {"text": "(script exhausted)"}
        if step.get("echo"):
            # What the model received, line breaks shown as ⏎ (multi-line input tests).
            yield "got: " + (prompt.prompt or "").replace("\n", " ⏎ ") + "\n\n"
        if step.get("text"):
            yield step["text"]
        for chunk in step.get("chunks", []):
            import time

            yield chunk
            time.sleep(step.get("chunk_delay", 0.02))
        if step.get("sleep"):
            import time

            time.sleep(step["sleep"])
        for name, arguments in step.get("tool_calls", []):
            response.add_tool_call(llm.ToolCall(name=name, arguments=arguments))
        response.set_usage(input=10, output=5)


class Plugin:
    __name__ = "PtyScriptedPlugin"

    @llm.hookimpl
    def register_models(self, register):
        with open(os.environ["SCRIPTED_STEPS"]) as f:
            register(PtyScriptedModel(json.load(f)))


pm.register(Plugin(), name="pty-scripted")

from llm.cli import cli  # noqa: E402

if "code" not in cli.commands:
    from llm_coding_agent.plugin import register_commands

    register_commands(cli)

sys.exit(cli(sys.argv[1:]))
