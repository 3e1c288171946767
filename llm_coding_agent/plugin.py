"""llm plugin hooks: the ``CodingTools`` toolbox, the ``llm code`` command and the built-in
``code-local`` model."""

from __future__ import annotations

import llm


@llm.hookimpl
def register_tools(register):
    from .tools import CodingTools

    register(CodingTools)


@llm.hookimpl
def register_models(register):
    # Registered even without the [local] extra, so `llm -m code-local` says how to install it.
    # The model module imports neither xllamacpp nor the weights until a prompt runs.
    from .local.model import LocalModel

    register(LocalModel())


@llm.hookimpl
def register_commands(cli):
    # The command module imports rich and prompt_toolkit only when `llm code` runs, so other llm
    # commands start as fast as before.
    from .cli import register

    register(cli)
