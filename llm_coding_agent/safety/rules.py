"""Allow/deny rules for shell commands that shell tricks cannot get around.

A command line is parsed into every *simple command* it would run (:mod:`.cmdline` says where
they are found and which wrappers are looked through) and each is checked on its own; the raw
string is never matched. **Both** a wrapper invocation and its inner command must match an allow
rule: ``--allow "xargs*"`` does not approve ``xargs rm``, and ``--allow "pytest*"`` never approves
anything that runs a program other than pytest. Commands run with arguments that are only known
at run time (``xargs``, ``find -exec``, ``parallel``) match only rules ending in ``*``. Programs
known to run other commands in ways not analysed (``ssh``, ``su``, ``chroot`` ...) and shells
reading commands from standard input (``curl x | sh``) always need the user's approval.

**Rules** are shell-style globs (:func:`fnmatch.fnmatchcase`, case-sensitive) matched against the
normalised text of a simple command: its words after quote removal, leading ``VAR=value``
assignments dropped, joined by single spaces (a word that contains whitespace or is empty is shown
single-quoted, so ``'git diff' x`` is not ``git diff x``). ``git diff*`` matches ``git diff`` and
``git diff --stat``; ``pytest*`` matches ``pytest -q tests/``. A rule without wildcards matches
the command exactly. A trailing ``*`` right after a letter, digit or ``_`` matches at a word
boundary: ``git diff*`` does not match ``git difftool`` and ``ls*`` does not match ``lsblk``
(write ``git diff**`` for a plain prefix). Deny rules are matched more loosely than allow rules:
also against the command with its program's directory dropped (``/bin/rm`` counts as ``rm``) and
with git's global options dropped (``git -C x push`` counts as ``git push``).

**Verdicts** (:meth:`CommandRules.decide`):

* DENY when any simple command matches a deny rule (deny always wins; on a line that cannot be
  parsed, deny rules are tried against the whole line).
* ALLOW when every simple command matches an allow rule and nothing below applies.
* ASK otherwise, and always when: the line cannot be parsed, or uses constructs not analysed here
  (function definitions, ``alias``, arithmetic ``$(( ))``/``(( ))``/``let``, ``[[ ]]``, ``case``,
  ``select``, ``coproc``, ANSI-C ``$'...'`` quoting, parameter expansions other than ``$NAME``/
  ``${NAME}`` such as ``${x@P}`` or ``${x:-$(cmd)}``, here-documents whose body expands commands,
  comments inside ``$( )``); a command name is computed at run time (``$CMD``, ``"$(echo rm)"``,
  globs or braces in the name); an assignment sets a variable that changes what an allowed program
  runs (``PATH``, ``LD_PRELOAD``, ``GIT_*``, ``*PAGER``, ``*EDITOR``, ``BASH_ENV``, ``IFS`` ...,
  including via ``env``/``export``/``declare``); a variable name computed at run time reaches a bash
  builtin that evaluates array subscripts (``read "$x"``, ``test -v "$x"``, ``printf -v "$x"``,
  ``declare "$x"=1``: bash runs ``$(...)`` found inside such subscripts); a redirection writes
  outside the root (absolute paths, ``..``, ``~``, paths with expansions or globs, symlinks are
  resolved; ``/dev/null``, ``/dev/stdout``, ``/dev/stderr`` and fd duplications such as ``2>&1``
  are fine) or into ``.git/`` or ``.llm-code/``; a redirection reads or writes bash's network paths
  ``/dev/tcp/...``/``/dev/udp/...``; ``cd``/``pushd`` leaves the root; run-time text (``{}`` of
  ``find -exec``, the ``xargs -I`` string) is placed inside a shell command string; or a command is
  destructive (:func:`.destructive.is_destructive`), which also sets ``destructive=True``.

Redirection targets are resolved against the root even after a ``cd`` inside the root; a path with
``..`` is then judged from the root, which errs on the side of asking.

**Tool rules**: a rule starting with ``mcp__`` names MCP tools, not commands (Claude Code's form):
``mcp__dt__now`` one tool, ``mcp__dt__*`` (a glob) or ``mcp__dt`` every tool of the server ``dt``.
:meth:`CommandRules.tool_rule` matches them against a tool's name.
"""

from __future__ import annotations

import enum
import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..tools.paths import PROTECTED_DIRS, is_within
from .cmdline import Redirect, SimpleCommand, UnparsableCommand, _analyse, simple_commands
from .cmdwords import (
    _GLOB_OR_BRACE, _NAME_BUILTINS, _SHELLS, _UNANALYSED_BUILTINS, _UNANALYSED_RUNNERS,
    _git_subcommand_index, _normalise, _program,
)
from .destructive import _destructive_reason, is_destructive

__all__ = [
    "Verdict",
    "CommandDecision",
    "CommandRules",
    "similar_rule",
    "file_writes",
    "TOOL_RULE_PREFIX",
    # Defined in .cmdline and .destructive; still importable from here, as before the split.
    "UnparsableCommand",
    "Redirect",
    "SimpleCommand",
    "simple_commands",
    "is_destructive",
]


#: Rules starting with this name MCP tools (``mcp__server__tool``) rather than commands.
TOOL_RULE_PREFIX = "mcp__"


def _tool_rule_matches(rule: str, tool_name: str) -> bool:
    """``mcp__dt__now`` and ``mcp__dt__*`` as globs; ``mcp__dt`` (a server alone) for all its tools."""
    if not rule.startswith(TOOL_RULE_PREFIX):
        return False
    if fnmatch.fnmatchcase(tool_name, rule):
        return True
    return "__" not in rule[len(TOOL_RULE_PREFIX):] and tool_name.startswith(rule + "__")


class Verdict(str, enum.Enum):
    """What to do with a command line."""

    ALLOW = "allow"
    ASK = "ask"
    DENY = "deny"


@dataclass(frozen=True)
class CommandDecision:
    """The verdict on a command line, the reason in one readable line, and the commands found."""

    verdict: Verdict
    reason: str
    commands: tuple[str, ...]
    destructive: bool = False


# --------------------------------------------------------------------------------------------
# Matching


def _rule_matches(rule: str, text: str, *, open_args: bool = False) -> bool:
    if not rule:
        return False
    if open_args and not rule.endswith("*"):
        return False
    if len(rule) >= 2 and rule.endswith("*") and (rule[-2].isalnum() or rule[-2] == "_"):
        stem = rule[:-1]
        return fnmatch.fnmatchcase(text, stem) or fnmatch.fnmatchcase(text, stem + " *")
    return fnmatch.fnmatchcase(text, rule)


def _deny_texts(cmd: SimpleCommand) -> list[str]:
    words = cmd.words
    texts = [cmd.text, " ".join(words)]
    if "/" in words[0]:
        texts.append(" ".join([_program(words[0])] + words[1:]))
    if _program(words[0]) == "git":
        sub = _git_subcommand_index(words)
        if sub is not None and sub > 1:
            texts.append(" ".join(["git"] + words[sub:]))
    return texts


# --------------------------------------------------------------------------------------------
# Redirections and directories


_SAFE_WRITE_TARGETS = {"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/fd/1", "/dev/fd/2"}


def _write_problem(target: str, is_dynamic: bool, root: Path) -> str | None:
    if target.startswith("~"):
        return f"writes to {target}, outside the project root"
    if is_dynamic or "$" in target or "`" in target:
        return f"writes to {target}, a path computed at run time"
    if target in _SAFE_WRITE_TARGETS:
        return None
    if _GLOB_OR_BRACE.search(target):
        return f"writes to {target}, a path with wildcards"
    real = os.path.realpath(os.path.join(root, target))
    root_real = os.path.realpath(root)
    if not is_within(real, root_real):
        return f"writes to {target}, outside the project root"
    rel = os.path.relpath(real, root_real).split(os.sep)
    if rel and rel[0] in (*PROTECTED_DIRS, ".git"):
        return f"writes into {rel[0]}/, which the agent may not change"
    return None


def _cd_problem(cmd: SimpleCommand, root: Path) -> str | None:
    prog = cmd.words[0]
    if prog not in ("cd", "pushd", "popd"):
        return None
    if prog == "popd":
        return "`popd` changes to a directory that cannot be checked"
    ops = [(w, d) for w, d in zip(cmd.words[1:], cmd.word_dynamic[1:]) if not w.startswith("-")]
    if not ops:
        return f"`{prog}` without a directory leaves the project root"
    target, is_dynamic = ops[0]
    if is_dynamic or target.startswith("~") or "$" in target or "`" in target:
        return f"`{prog} {target}` changes to a directory computed at run time"
    real = os.path.realpath(os.path.join(root, target))
    if not is_within(real, os.path.realpath(root)):
        return f"`{prog} {target}` leaves the project root"
    return None


# --------------------------------------------------------------------------------------------
# Decisions


@dataclass
class CommandRules:
    """Allow and deny rules (globs, see the module docstring) for shell commands."""

    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)

    def tool_rule(self, tool_name: str, kind: str) -> str | None:
        """The first ``kind`` (``"allow"`` or ``"deny"``) tool rule naming ``tool_name``, if any."""
        rules = self.allow if kind == "allow" else self.deny
        return next((rule for rule in rules if _tool_rule_matches(rule, tool_name)), None)

    def _denied_by(self, cmd: SimpleCommand) -> str | None:
        for text in _deny_texts(cmd):
            for rule in self.deny:
                if _rule_matches(rule, text):
                    return rule
        return None

    def _allowed_by(self, cmd: SimpleCommand) -> str | None:
        for rule in self.allow:
            if _rule_matches(rule, cmd.text, open_args=cmd.open_args):
                return rule
        return None

    def decide(self, command: str, root: Path) -> CommandDecision:
        """Judge ``command`` (a bash command line) run from ``root``; see the module docstring."""
        analysis = _analyse(command)
        found = tuple(c.text for c in analysis.commands if c.words)

        for cmd in analysis.commands:
            if cmd.words and not cmd.dynamic:
                rule = self._denied_by(cmd)
                if rule is not None:
                    return CommandDecision(Verdict.DENY, f"`{cmd.text}` matches deny rule `{rule}`",
                                           found)
        if analysis.problems:
            # The line cannot be checked; still refuse it when a rough split finds a denied part.
            for piece in _rough_pieces(command):
                for rule in self.deny:
                    if _rule_matches(rule, piece):
                        return CommandDecision(
                            Verdict.DENY, f"`{piece}` matches deny rule `{rule}`", found)
            unchecked = f"cannot check this command automatically: it {analysis.problems[0]}"
            destructive = _destructive_commands(analysis.commands, root)
            if destructive:
                return CommandDecision(Verdict.ASK, _destructive_line(destructive, [unchecked]), found,
                                       destructive=True)
            return CommandDecision(Verdict.ASK, unchecked, found)

        asks: list[str] = []
        uncovered: list[str] = []  # moot for destructive commands: they ask whatever the rules say
        destructive = _destructive_commands(analysis.commands, root)
        allowed_by: list[str] = []
        for cmd in analysis.commands:
            if cmd.words:
                if cmd.dynamic:
                    asks.append(f"`{cmd.text}` runs a command whose name is only known at run time")
                else:
                    rule = self._allowed_by(cmd)
                    if rule is None:
                        uncovered.append(f"`{cmd.text}` is not covered by an allow rule")
                        asks.append(uncovered[-1])
                    elif rule not in allowed_by:
                        allowed_by.append(rule)
                    problem = _cd_problem(cmd, root)
                    if problem:
                        asks.append(problem)
            label = cmd.text or "the command"
            for note in cmd.notes:
                asks.append(f"`{label}` {note}")
            for r in cmd.redirects:
                if r.target is not None and r.target.startswith(("/dev/tcp/", "/dev/udp/")):
                    asks.append(f"`{label}` opens a network connection through {r.target}")
                elif r.writes and r.target is not None:
                    problem = _write_problem(r.target, r.dynamic, root)
                    if problem:
                        asks.append(f"`{label}` {problem}")
            for target, is_dynamic in cmd.extra_writes:
                problem = _write_problem(target, is_dynamic, root)
                if problem:
                    asks.append(f"`{label}` {problem}")

        if destructive:
            others = [a for a in asks if a not in uncovered]
            return CommandDecision(Verdict.ASK, _destructive_line(destructive, others), found, destructive=True)
        if asks:
            return CommandDecision(Verdict.ASK, _one_line(asks), found)
        if not found:
            return CommandDecision(Verdict.ALLOW, "the line runs no command", found)
        rules = ", ".join(f"`{r}`" for r in allowed_by)
        return CommandDecision(Verdict.ALLOW, f"every command matches an allow rule ({rules})", found)


def file_writes(command: str) -> list[str]:
    """The files ``command`` writes through redirections or a program's output options (``> f``,
    ``>> f``, ``find -fprint f``); ``/dev/null`` and the like, and fd duplications, do not count.
    A line that cannot be parsed is one whose writes are unknown: ``["(unknown)"]``."""
    analysis = _analyse(command)
    if analysis.problems:
        return ["(unknown)"]
    written = []
    for cmd in analysis.commands:
        targets = [r.target for r in cmd.redirects if r.writes and r.target is not None]
        targets += [target for target, _ in cmd.extra_writes]
        written += [t for t in targets if t not in _SAFE_WRITE_TARGETS and t not in written]
    return written


def _rough_pieces(command: object) -> list[str]:
    """Best-effort command texts of a line bashlex could not parse, for deny rules only."""
    if not isinstance(command, str):
        return []
    pieces = [command] + re.split(r"[;&|\n()`{}]|\$\(", command)
    out = []
    for piece in pieces:
        text = " ".join(re.sub(r"""["'\\]""", "", piece).split())
        if text and text not in out:
            out.append(text)
    return out


def _destructive_commands(commands, root: Path) -> list[str]:
    """Each destructive command with what it destroys: "`rm -rf build` deletes directories recursively"."""
    found = []
    for cmd in commands:
        reason = cmd.words and _destructive_reason(cmd.words, root, open_args=cmd.open_args)
        if reason:
            found.append(f"`{' '.join(cmd.text.split())}` {reason}")
    return list(dict.fromkeys(found))


def _destructive_line(destructive: list[str], other: list[str]) -> str:
    """The reason to ask about a destructive line: every destructive command said once, then
    anything else worth knowing (all of it: the user is about to approve it)."""
    others = [" ".join(r.split()) for r in dict.fromkeys(other)]
    return "destructive: " + "; ".join(destructive) + "".join(f"; also {r}" for r in others)


def _one_line(reasons: list[str]) -> str:
    first = " ".join(reasons[0].split())
    more = len(dict.fromkeys(reasons)) - 1
    return first + (f" (and {more} more)" if more else "")


# --------------------------------------------------------------------------------------------
# "Always allow similar"

_SUBCOMMAND_PROGRAMS = {
    "git", "npm", "pnpm", "yarn", "bun", "cargo", "go", "pip", "pip3", "uv", "poetry", "pdm", "hatch",
    "conda", "mamba", "docker", "podman", "kubectl", "helm", "gh", "make", "just", "dotnet",
    "terraform", "deno", "rustup", "brew", "npx", "bunx", "pipx", "tox", "nox", "mvn", "gradle",
    "./gradlew", "apt", "apt-get", "systemctl", "bundle", "rake", "mix", "stack", "cabal", "swift",
    "flutter", "dart", "composer", "php", "rails", "ng", "nx", "turbo",
}
# Subcommands whose own next word picks what runs: the rule keeps that word too.
_TWO_LEVEL = {
    ("npm", "run"), ("pnpm", "run"), ("yarn", "run"), ("bun", "run"), ("gh", "pr"), ("gh", "issue"),
    ("gh", "repo"), ("gh", "run"), ("gh", "workflow"), ("gh", "release"), ("docker", "compose"),
    ("docker", "container"), ("docker", "image"), ("podman", "container"), ("uv", "pip"),
    ("uv", "tool"), ("poetry", "env"), ("cargo", "run"), ("go", "run"), ("npm", "exec"),
    ("pnpm", "exec"), ("pnpm", "dlx"), ("yarn", "dlx"), ("git", "stash"), ("git", "remote"),
    ("git", "worktree"), ("git", "submodule"), ("kubectl", "config"), ("systemctl", "--user"),
}
_INTERPRETERS = re.compile(r"^(?:python[0-9.]*|pypy[0-9.]*|node|ruby|perl|php|Rscript|lua|deno)$")


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def similar_rule(command: str) -> str | None:
    """The allow rule an "always allow commands like this" answer should add, or None.

    For a single simple command: the program and its subcommand for programs with subcommands
    (``git diff --stat`` → ``git diff*``, ``npm run test`` → ``npm run test*``), the module for
    ``python -m X`` (``python -m pytest*``), the script for interpreters (``python manage.py*``), and
    the program alone otherwise (``pytest -q`` → ``pytest*``). None for compound lines, wrappers,
    lines that cannot be checked, command names computed at run time, inline code (``python -c``)
    and destructive commands (recursive ``rm`` always counts as destructive here).
    """
    analysis = _analyse(command)
    if analysis.problems:
        return None
    cmds = [c for c in analysis.commands if c.words or c.assignments]
    if len(cmds) != 1:
        return None
    cmd = cmds[0]
    words = cmd.words
    if not words or cmd.dynamic or cmd.notes or cmd.extra_writes:
        return None
    if _destructive_reason(words, None) is not None:
        return None
    prog = words[0]
    base = _program(prog)
    if (base in _SHELLS or base in _UNANALYSED_RUNNERS or base in _UNANALYSED_BUILTINS
            or base in _NAME_BUILTINS or base in ("eval", "source", ".")):
        return None
    keep = 1
    if _INTERPRETERS.match(base):
        if len(words) == 1:
            return _glob_escape(prog)  # the bare REPL, not every script and -c snippet
        if len(words) >= 3 and words[1] == "-m":
            keep = 3
        elif len(words) >= 2 and not words[1].startswith("-"):
            keep = 2
        elif len(words) >= 2:
            return None  # -c CODE, -e CODE and other options: no useful narrower rule
    elif prog in _SUBCOMMAND_PROGRAMS or base in _SUBCOMMAND_PROGRAMS:
        if len(words) >= 2:
            if words[1].startswith("-") and (base, words[1]) not in _TWO_LEVEL:
                return None
            keep = 2
            if (base, words[1]) in _TWO_LEVEL:
                if len(words) == 2:
                    return _glob_escape(_normalise(words))  # `npm run` alone lists scripts
                if not words[2].startswith("-"):
                    keep = 3
    head = _glob_escape(_normalise(words[:keep]))
    if keep == 1 and (prog in _SUBCOMMAND_PROGRAMS or base in _SUBCOMMAND_PROGRAMS):
        return head  # `git` alone: a prefix rule would allow every subcommand
    if head[-1].isalnum() or head[-1] == "_":
        return head + "*"
    return head if len(words) == keep else head + " *"
