"""Choosing the built-in model for ``llm code``, and getting it ready with visible progress.

When the user named no model and llm's default model has no API key, the session says so in one
line and uses ``code-local`` instead of stopping; ``--local`` asks for it outright. A named model
that lacks a key keeps its clear error (with the built-in model as the way out).
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import llm

from ..local import MODEL_ID, is_available
from ..local.runtime import INSTALL_HINT

__all__ = ["missing_key_message", "model_lacks_key", "prepare_local_model", "local_notice"]


def model_lacks_key(model: llm.Model, key: str | None) -> bool:
    """The model needs an API key and none is given, stored (``llm keys``) or in its variable."""
    if not getattr(model, "needs_key", None):
        return False
    try:
        return not model.get_key(key)
    except llm.NeedsKeyException:
        return True


def missing_key_message(model: llm.Model) -> str:
    """The one-line error for a model without a key, naming both ways forward."""
    env = getattr(model, "key_env_var", None)
    text = f"model {model.model_id} needs an API key: run `llm keys set {model.needs_key}`" + (
        f" or set {env}" if env else ""
    )
    if is_available():
        return text + f"; or use the built-in local model with --local (-m {MODEL_ID})"
    return text + f"; or get the built-in local model: {INSTALL_HINT}, then run llm code again"


def local_notice(default_id: str, needs_key: str) -> str:
    """The one line saying the built-in model stands in for llm's default model."""
    return (
        f"No API key for {default_id}: using the built-in local model {MODEL_ID} "
        f"(for a stronger one: `llm keys set {needs_key}`, or `llm models default MODEL`)."
    )


def _progress_printer(stream) -> Callable[[str, int, "int | None"], None]:
    """A progress callback for fetching weights: a rich bar on a terminal, a few lines otherwise."""
    if stream.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
            console=Console(file=stream), transient=True,
        )
        tasks: dict[str, Any] = {}

        def show(description: str, done: int, total: int | None) -> None:
            if description not in tasks:
                bar.start()
                tasks[description] = bar.add_task(description, total=total)
            bar.update(tasks[description], completed=done, total=total)
            if total and done >= total:
                bar.stop()

        return show

    said: dict[str, int] = {}

    def say(description: str, done: int, total: int | None) -> None:
        # Plain output (a log, CI): the start and every 25 %, not a line per megabyte.
        step = int(4 * done / total) if total else 0
        if said.get(description, -1) < step or description not in said:
            said[description] = step
            where = f" {done / total:.0%}" if total else ""
            print(f"{description}{where}", file=stream, flush=True)

    return say


def prepare_local_model(
    model: llm.Model, options: dict, notice: Callable[..., None], waiting: Callable[[], None] | None = None
) -> int:
    """Fetch the weights if needed (with progress on stderr) and return the context size in tokens
    (the agent's window). Raises ``llm.ModelError`` with one line if it cannot be used.

    The model itself loads with the first request, after a dim ``notice`` line saying so (then
    ``waiting``, the spinner, resumes). It is not loaded here in a thread: llama.cpp holds the
    interpreter for the seconds a load takes, so the header, the prompt and the user's typing
    would all wait for it."""
    if not is_available():
        raise llm.ModelError(f"the built-in local model needs llama.cpp: {INSTALL_HINT}")
    try:
        validated = model.Options(**options)
    except Exception as ex:  # pydantic's ValidationError
        raise llm.ModelError(f"bad option for {MODEL_ID}: {_first_error(ex)}") from None
    settings = model.settings(validated, progress=_progress_printer(sys.stderr))

    def announce_load(line: str) -> None:
        notice(line, style="dim")
        if waiting is not None:
            waiting()

    model.on_load = announce_load
    return settings.n_ctx


def _first_error(ex: Exception) -> str:
    errors = getattr(ex, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(str(p) for p in first.get('loc', ()))}: {first.get('msg')}"
    return str(ex)
