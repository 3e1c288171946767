"""A scripted model in every Python process started with this directory on PYTHONPATH: the
``llm code -p`` processes that ``llm code batch`` starts, one per task.

SCRIPTED_TASKS names a JSON file ``{"words of a task": [step, ...], ...}``; a process follows the
steps of the first key its first prompt contains. A step is ``{"text": ..., "tool_calls": [[name,
arguments], ...], "raise": "message"}``, as in scripted_llm.py ("raise": the model fails). Each process appends ``pid task-key`` to
SCRIPTED_TASKS + ".pids", so a test can see which processes ran which task.
"""

import json
import os

if os.environ.get("SCRIPTED_TASKS"):
    import llm
    from llm.plugins import pm

    class BatchScriptedModel(llm.Model):
        model_id = "scripted"
        supports_tools = True
        can_stream = True

        def __init__(self, scripts):
            self.scripts = scripts
            self.steps = None

        def execute(self, prompt, stream, response, conversation):
            if self.steps is None:
                text = prompt.prompt or ""
                key = next((k for k in self.scripts if k in text), None)
                self.steps = list(self.scripts.get(key, []))
                with open(os.environ["SCRIPTED_TASKS"] + ".pids", "a") as f:
                    f.write(f"{os.getpid()} {key}\n")
            step = self.steps.pop(0) if self.steps else {"text": "(script exhausted)"}
            if step.get("text"):
                yield step["text"]
            if step.get("raise"):
                raise RuntimeError(step["raise"])
            for name, arguments in step.get("tool_calls", []):
                response.add_tool_call(llm.ToolCall(name=name, arguments=arguments))
            response.set_usage(input=10, output=5)

    class _Plugin:
        __name__ = "BatchScriptedPlugin"

        @llm.hookimpl
        def register_models(self, register):
            with open(os.environ["SCRIPTED_TASKS"]) as f:
                register(BatchScriptedModel(json.load(f)))

    pm.register(_Plugin(), name="batch-scripted")
