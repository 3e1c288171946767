"""llm plugin hooks: the ``CodingTools`` toolbox and the ``llm code`` command."""

from __future__ import annotations

import llm


@llm.hookimpl
def register_tools(register):
    from .tools import CodingTools

    register(CodingTools)


@llm.hookimpl
def register_commands(cli):
    # The command module imports rich and prompt_toolkit only when `llm code` runs, so other llm
    # commands start as fast as before.
    from .cli import register

    register(cli)
