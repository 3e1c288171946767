"""`llm ...` with this checkout's llm_coding_agent plugin registered.

Works whether or not the project is pip-installed: the checkout (on PYTHONPATH,
set by the harness) is registered as the plugin before llm's CLI is imported, so
the benchmark always measures the code in this working tree.

    python ours_launcher.py code -p "..." --yolo --json -d DIR -m MODEL
"""
import sys
from pathlib import Path

from llm.plugins import load_plugins, pm

load_plugins()
import llm_coding_agent.plugin as plugin  # noqa: E402

if not pm.is_registered(plugin):
    for name, registered in list(pm.list_name_plugin()):
        # an installed copy elsewhere (not this checkout): replace it
        if getattr(registered, "__name__", "") == "llm_coding_agent.plugin":
            pm.unregister(registered)
    pm.register(plugin, name="llm_coding_agent_checkout")

from llm.cli import cli  # noqa: E402

if __name__ == "__main__":
    sys.argv[0] = "llm"
    cli()
