"""The CLI layer: ``llm code``. Only rendering and input live here.

What lives here:

- ``command.py``: the click command and its options.
- ``session.py``: one session: builds the agent from the options and settings, runs it
  interactively or headless, and handles the ``!``/``/`` commands.
- ``ui.py``: :class:`TerminalUI`, everything that draws on or reads from the terminal.
- ``messages.py``: what the session says in words (why a run stopped and how to go on, declined
  calls, the resume hint, a recap of a continued conversation) and the summaries' helpers.
- ``live.py``: what is shown while the agent works: a running tool's live line and output, a
  command's output collapsed, the answer streamed as Markdown, the status line after a turn.
- ``diffview.py``: diffs with line numbers, cropped lines and the changed characters highlighted.
- ``completion.py``: Tab completion at the prompt (session commands, ``@`` paths, model ids);
  ``keys.py``: the prompt's keys for a new line (``\\`` Enter, Esc Enter, Shift+Enter).
- ``sessions.py``: this directory's recent sessions from llm's logs (``-r``, ``!resume``).
- ``editor.py``: a proposed file change edited in ``$VISUAL``/``$EDITOR`` (the ``e`` answer).
- ``stats.py``: ``llm code stats``; ``metrics.py``: the task metrics it reads from llm's logs.
- ``plan_ui.py``: plan mode and the todo list on screen: the plan's y / e / n, ``!plan``, the
  checklist, and the ``plan``/``todo`` events of ``--json``.
- ``subagent_ui.py``: a sub-agent's progress (``delegate``) as an indented block, and its
  ``--json`` events tagged with ``parent``.
- ``batch.py``: ``llm code batch``, tasks in parallel, each in its own git worktree.
- ``auto.py``: ``llm loop`` (llm-loop's options) and ``--auto``; ``auto_session.py``: the session
  of an autonomous run (kept apart: ``auto.py`` is imported at start-up).
- ``portable.py``: ``llm code export`` / ``import`` and the Markdown export; ``sessions.py`` also
  holds ``llm code sessions``.

May import every lower layer (``agent``, ``safety``, ``tools``, ``errors``). Nothing imports it
but :mod:`llm_coding_agent.plugin`. ``rich`` and ``prompt_toolkit`` are imported only when
``llm code`` runs, so other ``llm`` commands start as fast as without this plugin.
"""

from __future__ import annotations

from .command import code_command, register

__all__ = ["code_command", "register"]
