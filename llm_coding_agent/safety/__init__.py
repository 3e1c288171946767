"""The safety layer: the policy that decides what may run, and the means to take it back.

What lives here:

- ``approval.py``: :class:`ApprovalPolicy`, the one place that says whether a tool call is
  allowed, refused, or must be asked about (and what "always" remembers).
- ``cmdline.py``, ``cmdwords.py``, ``rules.py``, ``destructive.py``: command rules. A shell
  line is parsed into its simple commands (``cmdline``, from the pieces in ``cmdwords``:
  quoting, words, the bounded call into bashlex); allow/deny globs are matched against every one
  of them (``rules``); commands that delete, overwrite or discard work are recognised
  (``destructive``).
- ``undo.py``: snapshots of the project before each turn, so a turn can be undone whatever
  changed the files (edits or shell commands).
- ``settings.py``: the user's and the project's settings files, and trust in the project's.
- ``review.py``: what a reviewer model may approve without the user (size, sensitive paths).

The bubblewrap sandbox is the mechanism commands run under; it lives with the shell engine in
:mod:`llm_coding_agent.tools.sandbox`.

May import: :mod:`llm_coding_agent.tools` and :mod:`llm_coding_agent.errors`; never ``agent`` or
``cli``. Nothing here prints or prompts: asking the user is the caller's job.
"""

from __future__ import annotations

import typing as _typing

__all__ = ["ApprovalDecision", "ApprovalPolicy", "CommandRules", "Verdict"]

if _typing.TYPE_CHECKING:  # pragma: no cover
    from .approval import ApprovalDecision, ApprovalPolicy
    from .rules import CommandRules, Verdict


def __getattr__(name: str) -> _typing.Any:
    # Imported on first use: `llm code --help` reads the settings module without the command rules.
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import approval, rules

    globals().update(ApprovalDecision=approval.ApprovalDecision, ApprovalPolicy=approval.ApprovalPolicy,
                     CommandRules=rules.CommandRules, Verdict=rules.Verdict)
    return globals()[name]
