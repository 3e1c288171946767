"""Allow/deny rules for shell commands that shell tricks cannot get around.

A command line is parsed with :mod:`bashlex` and every *simple command* it would run is checked on
its own; the raw string is never matched. Simple commands are found in pipelines, lists (``;``,
``&&``, ``||``, ``&``, newlines), subshells, ``{ }`` groups, ``if``/``for``/``while``/``until``
bodies, command substitutions (``$(...)`` and backticks, wherever they appear: in words, in
double-quoted strings, in redirection targets, in assignments), process substitutions, and inside
commands that run other commands:

* **Shell strings** are parsed recursively: ``bash|sh|zsh|dash|ksh|ash|mksh -c STRING``,
  ``eval ARGS`` (joined by spaces, as bash does), ``watch ARGS`` (run through ``sh -c``),
  ``sudo -s|-i ARGS``, ``env -S STRING``, ``trap STRING``, and GNU ``parallel`` commands.
* **Argument-vector wrappers** yield their inner command as one more simple command: ``env [-i]
  [-u NAME] [VAR=x ...] cmd``, ``sudo``, ``doas``, ``nohup``, ``nice``, ``time``, ``timeout DURATION``,
  ``exec``, ``command``, ``builtin``, ``xargs`` (default ``echo``), ``find ... -exec/-execdir/-ok/-okdir
  cmd ... ;|+``, ``stdbuf``, ``setsid``, ``ionice``, ``busybox``, ``uv run``, ``poetry run``,
  ``pipenv run``, ``pdm run``, ``conda run``, ``bundle exec``. Options are parsed strictly: an option
  the parser does not know makes the line unanalysable (ASK), so an option value can never be
  mistaken for the inner command.
* **Both** the wrapper invocation and the inner command must match an allow rule:
  ``--allow "xargs*"`` does not approve ``xargs rm``, and ``--allow "pytest*"`` never approves
  anything that runs a program other than pytest. Commands run with arguments that are only known
  at run time (``xargs``, ``find -exec``, ``parallel``) match only rules ending in ``*``.
* Programs known to run other commands in ways not analysed here (``ssh``, ``su``, ``chroot``,
  ``strace``, ``flock``, ``script``, ``unbuffer`` ...) and shells reading commands from standard
  input (``curl x | sh``) always need the user's approval.

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
  destructive (:func:`is_destructive`), which also sets ``destructive=True``.

Redirection targets are resolved against the root even after a ``cd`` inside the root; a path with
``..`` is then judged from the root, which errs on the side of asking.
"""

from __future__ import annotations

import enum
import fnmatch
import os
import re
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


from ..errors import ToolError
from ..tools.paths import PROTECTED_DIRS, is_within

__all__ = [
    "Verdict",
    "CommandDecision",
    "UnparsableCommand",
    "Redirect",
    "SimpleCommand",
    "simple_commands",
    "CommandRules",
    "similar_rule",
    "is_destructive",
]


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


class UnparsableCommand(ToolError):
    """A command line that cannot be parsed, or uses shell constructs this module does not analyse."""


@dataclass(frozen=True)
class Redirect:
    """One redirection of a simple command.

    ``target`` is the file word after quote removal, or None for a file-descriptor duplication or
    close (``2>&1``, ``>&-``). ``writes`` is True for operators that can create or change a file.
    ``dynamic`` is True when the target contains expansions (``$x``, ``$(...)``, ``~``).
    """

    op: str
    target: str | None
    writes: bool
    dynamic: bool = False


@dataclass
class SimpleCommand:
    """A command the shell would run: its words (leading assignments removed) and redirections.

    ``text`` is the normalised form rules are matched against. ``dynamic`` is True when the command
    name is only known at run time. ``open_args`` is True when more arguments are added at run time
    (``xargs``, ``find -exec``). ``wrapper`` names the program that runs this command for us
    (``xargs``, ``bash -c`` ...), or is None for a command the line runs directly. ``notes`` lists
    reasons this command can never be approved by a rule alone. A command with no words only
    assigns variables or opens files (``X=1``, ``> out``, a redirected ``{ }`` group).
    """

    words: list[str]
    redirects: list[Redirect] = field(default_factory=list)
    text: str = ""
    assignments: list[str] = field(default_factory=list)
    dynamic: bool = False
    open_args: bool = False
    wrapper: str | None = None
    notes: list[str] = field(default_factory=list)
    word_dynamic: list[bool] = field(default_factory=list, repr=False)
    extra_writes: list[tuple[str, bool]] = field(default_factory=list, repr=False)
    #: Strings replaced by run-time text (``{}`` for ``find -exec``, the ``xargs -I`` string).
    placeholders: tuple[str, ...] = field(default=(), repr=False)


# --------------------------------------------------------------------------------------------
# Parsing


_MAX_DEPTH = 6
_MAX_LENGTH = 100_000

_WRITE_OPS = {">", ">>", ">|", "&>", "&>>", "<>", ">&"}
_SAFE_WRITE_TARGETS = {"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/fd/1", "/dev/fd/2"}
_SIMPLE_PARAM = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!-])$")
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\+?=)")
_QUOTED_HEREDOC = re.compile(
    r"""<<(-?)[ \t]*(?:'([A-Za-z0-9_.-]+)'|"([A-Za-z0-9_.-]+)"|\\([A-Za-z0-9_.-]+))""")
_LEADING_TIME = re.compile(r"^(\s*)time(\s+-p)?(?=\s)")
# A glob or brace expansion bash would apply to a word (a lone "[" is the test command).
_GLOB_OR_BRACE = re.compile(r"[*?]|\[.*\]|\{.*(?:,|\.\.).*\}")

# Variables that make an allowed program run something else, or load code into it.
_RISKY_VARS = re.compile(
    r"^(?:PATH|LD_\w*|DYLD_\w*|BASH_ENV|ENV|IFS|SHELLOPTS|BASHOPTS|PS4|PROMPT_COMMAND|BASH_FUNC_\w*"
    r"|HOME|SHELL|CDPATH|GLOBIGNORE|BASH_XTRACEFD|RANDOM|SRANDOM|OPTIND|SECONDS|LINENO|HISTCMD"
    r"|\w*PAGER|\w*EDITOR|VISUAL|BROWSER|\w*ASKPASS|LESS\w*|\w*_COMMAND|\w*_PROGRAM|\w*OPTIONS"
    r"|\w*OPTS?|PERL\w*|RUBY\w*|NODE_\w*|XDG_\w*|GIT_\w*|PYTHON\w*|JAVA_\w*|CLASSPATH|MAKEFLAGS|MFLAGS"
    r"|GNUMAKEFLAGS|TERMINFO\w*|TMUX\w*|SSH_\w*|DOCKER_\w*|KUBECONFIG|NPM_CONFIG_\w*|npm_config_\w*"
    r"|CARGO_\w*|RUSTC_\w*|RUSTFLAGS|RUSTDOCFLAGS|CC|CXX|LD|AR|CFLAGS|CXXFLAGS|LDFLAGS|CPPFLAGS)$"
)
# Common harmless variables that would otherwise be caught by the broad patterns above.
_SAFE_VARS = {
    "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONHASHSEED", "PYTHONUTF8", "PYTHONIOENCODING",
    "PYTHONFAULTHANDLER", "PYTHONDEVMODE", "PYTHONWARNDEFAULTENCODING", "PYTHONNOUSERSITE",
    "NODE_ENV", "NODE_NO_WARNINGS", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_COMMITTER_DATE", "GIT_TERMINAL_PROMPT",
    "GIT_OPTIONAL_LOCKS", "CARGO_TERM_COLOR", "RUST_BACKTRACE", "RUST_LOG",
}

# Builtins that treat an argument as a variable name, where bash evaluates array subscripts and
# runs any $(...) inside them.
_NAME_BUILTINS = {
    "declare", "typeset", "local", "export", "readonly", "read", "mapfile", "readarray", "unset",
    "getopts", "wait", "printf", "test", "[", "let",
}
_DECLARE_LIKE = {"declare", "typeset", "local", "export", "readonly"}

_SHELLS = {"bash", "sh", "zsh", "dash", "ksh", "ash", "mksh", "yash", "posh", "rbash"}
# Programs that run other commands in ways not analysed here.
_UNANALYSED_RUNNERS = {
    "ssh", "su", "runuser", "chroot", "script", "flock", "unbuffer", "chrt", "taskset", "strace",
    "ltrace", "valgrind", "gdb", "perf", "hyperfine", "entr", "at", "batch", "tmux", "screen", "sg",
    "newgrp", "xvfb-run", "firejail", "bwrap", "systemd-run", "unshare", "nsenter", "proot",
    "fakeroot", "faketime", "catchsegv", "fish", "csh", "tcsh", "expect", "tsp", "pkexec",
}
# Builtins that change how later words or names are run; bashlex does not follow their effects.
_UNANALYSED_BUILTINS = {"alias", "unalias", "fc", "bind", "complete", "compgen"}


@dataclass
class _Word:
    text: str
    dynamic: bool  # parameter, command or process substitution somewhere in the word
    tilde: bool


class _Analysis:
    """Everything found in one command line (and the shell strings it runs)."""

    def __init__(self) -> None:
        self.commands: list[SimpleCommand] = []
        self.problems: list[str] = []

    def problem(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)


def _quote_word(word: str) -> str:
    if word == "" or any(ch.isspace() for ch in word):
        return shlex.quote(word)
    return word


def _normalise(words: list[str]) -> str:
    return " ".join(_quote_word(w) for w in words)


def _only_comments(source: str) -> bool:
    return all(not line.strip() or line.strip().startswith("#") for line in source.splitlines())


def _prepare(source: str) -> tuple[str, list[int]]:
    """Rewrite constructs bashlex cannot parse into equivalent ones it can, keeping positions.

    ``time`` at the start of the line is dropped (bashlex does not implement the keyword), and quoted
    here-document delimiters are unquoted (bashlex rejects them). Returns the new text and the
    positions of rewritten delimiters, whose here-documents are literal (no expansion).
    """
    source = _LEADING_TIME.sub(lambda m: m.group(1) + " " * (len(m.group(0)) - len(m.group(1))), source)
    literal: list[int] = []

    def unquote(match: re.Match) -> str:
        delim = match.group(2) or match.group(3) or match.group(4)
        literal.append(match.start())
        replacement = "<<" + match.group(1) + delim
        return replacement + " " * (len(match.group(0)) - len(replacement))

    if _QUOTED_HEREDOC.search(source):
        source = _QUOTED_HEREDOC.sub(unquote, source)
    return source, literal


def _parse_into(analysis: _Analysis, source: str, depth: int, wrapper: str | None) -> None:
    if depth > _MAX_DEPTH:
        analysis.problem("shell strings are nested too deeply to check")
        return
    if len(source) > _MAX_LENGTH:
        analysis.problem("the command line is too long to check")
        return
    if "\x00" in source:
        analysis.problem("the command line contains a NUL byte")
        return
    if not source.strip() or _only_comments(source):
        return
    # bashlex mis-reads ANSI-C and locale quoting, and a mis-read quote can hide a whole command.
    if "$'" in source or '$"' in source:
        analysis.problem("uses $'...' or $\"...\" quoting, which is not analysed")
        return
    if re.search(r"(?<!\\)(?:\\\\)*\\$", source):
        # bashlex drops a trailing backslash; bash keeps it as a word.
        analysis.problem("ends with a backslash")
        return
    prepared, literal_heredocs = _prepare(source)
    try:
        trees = _guarded_parse(prepared)
    except _ParseBudgetExceeded:
        analysis.problem("is too complex to check")
        return
    except NotImplementedError as exc:
        analysis.problem(f"uses shell syntax that is not analysed ({_short(exc)})")
        return
    except Exception as exc:  # bashlex raises ParsingError and, on odd input, assorted others
        analysis.problem(f"cannot be parsed ({_short(exc)})")
        return
    walker = _Walker(analysis, prepared, depth, wrapper, literal_heredocs)
    for tree in trees:
        walker.node(tree)
    for pos in literal_heredocs:
        if not any(start <= pos < end for start, end in walker.heredoc_spans):
            analysis.problem("contains a quoted here-document marker that could not be analysed")
    # bashlex misses substitutions in some oddly quoted words (''$(cmd)''); a second, independent
    # scan of the quoting must not find any that the parse did not report.
    scan = _scan_substitutions(prepared, walker.heredoc_bodies)
    if scan is None or not scan[0] <= walker.substitution_starts:
        analysis.problem("has quoting or substitutions that could not be analysed reliably")
    elif scan[1]:
        # bashlex reads only the first line of a multi-line $( ) or backtick substitution.
        analysis.problem("has a line break inside a command substitution, which is not analysed")


def _remove_quotes(raw: str) -> tuple[str, bool] | None:
    """Bash quote removal for one word; also reports whether it has ``$`` or backtick expansions.

    Returns None when the quoting is unbalanced or the text is not a single word.
    """
    out: list[str] = []
    expansion = False
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c == "\\":
            if i + 1 < n:
                if raw[i + 1] != "\n":
                    out.append(raw[i + 1])
                i += 2
            else:
                out.append(c)
                i += 1
        elif c == "'":
            j = raw.find("'", i + 1)
            if j < 0:
                return None
            out.append(raw[i + 1:j])
            i = j + 1
        elif c == '"':
            i += 1
            while i < n and raw[i] != '"':
                if raw[i] == "\\" and i + 1 < n and raw[i + 1] in '$`"\\\n':
                    if raw[i + 1] != "\n":
                        out.append(raw[i + 1])
                    i += 2
                    continue
                if raw[i] in "$`":
                    expansion = True
                out.append(raw[i])
                i += 1
            if i >= n:
                return None
            i += 1
        elif c.isspace() or c in ";&|<>()":
            # An unquoted blank or operator cannot be inside a word: the parse went wrong.
            return None
        else:
            if c in "$`":
                expansion = True
            out.append(c)
            i += 1
    return "".join(out), expansion


def _scan_substitutions(source: str, masked: list[tuple[int, int]]) -> tuple[set[int], bool] | None:
    """Positions of every ``$(``, backtick and ``<(``/``>(`` bash would expand in ``source``, and
    whether a line break occurs inside one.

    A small quoting-aware scanner, independent of bashlex. Here-document bodies (``masked``) are
    skipped. Returns None when quoting does not balance.
    """
    newline_inside = False
    chars = list(source)
    for start, end in masked:
        for k in range(max(start, 0), min(end, len(chars))):
            if chars[k] != "\n":
                chars[k] = " "
    text = "".join(chars)
    found: set[int] = set()
    # Each frame: kind ("top", "sub", "bt", "dq") and, for "sub", the open-paren depth.
    stack: list[list] = [["top", 0]]
    i, n = 0, len(text)

    def word_start(k: int) -> bool:
        return k == 0 or text[k - 1].isspace() or text[k - 1] in ";&|()<>`"

    while i < n:
        c = text[i]
        frame = stack[-1]
        kind = frame[0]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "\n" and len(stack) > 1 and any(f[0] in ("sub", "bt") for f in stack):
            newline_inside = True
        if c == "\\":
            if nxt == "\n" and any(f[0] in ("sub", "bt") for f in stack):
                newline_inside = True
            i += 2
            continue
        if kind == "dq":
            if c == '"':
                stack.pop()
            elif c == "$" and nxt == "(":
                found.add(i)
                stack.append(["sub", 0])
                i += 2
                continue
            elif c == "`":
                found.add(i)
                stack.append(["bt", 0])
            i += 1
            continue
        # top level, inside $( ), or inside backticks: command context
        if c == "'":
            j = text.find("'", i + 1)
            if j < 0:
                return None
            i = j + 1
            continue
        if c == '"':
            stack.append(["dq", 0])
        elif c == "#" and word_start(i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif c == "$" and nxt == "(":
            found.add(i)
            stack.append(["sub", 0])
            i += 2
            continue
        elif c in "<>" and nxt == "(":
            found.add(i)
            stack.append(["sub", 0])
            i += 2
            continue
        elif c == "`":
            if kind == "bt":
                stack.pop()
            else:
                found.add(i)
                stack.append(["bt", 0])
        elif kind == "sub" and c == "(":
            frame[1] += 1
        elif kind == "sub" and c == ")":
            if frame[1] == 0:
                stack.pop()
            else:
                frame[1] -= 1
        i += 1
    return (found, newline_inside) if len(stack) == 1 else None


class _ParseBudgetExceeded(BaseException):
    """Raised inside bashlex to stop a runaway parse; a BaseException so bashlex cannot catch it."""


_PARSE_SECONDS = 5.0


def _guarded_parse(source: str) -> list:
    """``bashlex.parse`` with a step and time budget.

    Some inputs (``\\''${'`` for one) send bashlex into an endless loop that eats memory; a command
    line the model wrote must never hang or exhaust the agent. Only bashlex's own frames are traced,
    and a normal line costs a few hundred steps per character.
    """
    # Imported here, not at module level: bashlex's parser tables take ~0.25 s to build, and
    # `llm code` should reach its first prompt before anyone has typed a command.
    import bashlex

    bashlex_dir = os.path.dirname(bashlex.__file__)
    budget = 200_000 + 400 * len(source)
    deadline = time.monotonic() + _PARSE_SECONDS
    steps = 0

    def local(frame, event, arg):
        nonlocal steps
        steps += 1
        if steps > budget or (steps % 4096 == 0 and time.monotonic() > deadline):
            raise _ParseBudgetExceeded()
        return local

    def tracer(frame, event, arg):
        if frame.f_code.co_filename.startswith(bashlex_dir):
            return local(frame, event, arg)
        return None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        return bashlex.parse(source)
    finally:
        sys.settrace(previous)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]


class _Walker:
    def __init__(self, analysis: _Analysis, source: str, depth: int, wrapper: str | None,
                 literal_heredocs: list[int]) -> None:
        self.a = analysis
        self.source = source
        self.depth = depth
        self.wrapper = wrapper
        self.literal_heredocs = literal_heredocs
        self.heredoc_spans: list[tuple[int, int]] = []
        self.heredoc_bodies: list[tuple[int, int]] = []
        self.substitution_starts: set[int] = set()

    # Nodes ---------------------------------------------------------------------------------

    def node(self, n) -> None:
        kind = n.kind
        if kind in ("list", "pipeline"):
            for part in n.parts:
                self.node(part)
        elif kind == "compound":
            items = n.list
            if (len(items) >= 2 and getattr(items[0], "word", None) == "("
                    and items[1].kind == "compound" and items[1].pos[0] == items[0].pos[1]
                    and getattr(items[1].list[0], "word", None) == "("):
                # bash reads "((" as an arithmetic command, bashlex as two subshells.
                self.a.problem("uses an arithmetic command (( )), which is not analysed")
            for item in items:
                self.node(item)
            redirects = [self.redirect(r) for r in getattr(n, "redirects", []) or []]
            if redirects:
                self.a.commands.append(SimpleCommand(
                    words=[], redirects=redirects, text=self.slice(n).strip(), wrapper=self.wrapper))
        elif kind in ("if", "for", "while", "until"):
            for part in n.parts:
                if part.kind == "word":
                    self.word(part)
                else:
                    self.node(part)
        elif kind == "function":
            name = n.parts[0].word if n.parts and hasattr(n.parts[0], "word") else "?"
            self.a.problem(f"defines a shell function ({name}), which is not analysed")
            for part in n.parts[1:]:
                self.node(part)
        elif kind == "command":
            self.command(n)
        elif kind in ("operator", "reservedword", "pipe"):
            pass
        elif kind in ("commandsubstitution", "processsubstitution"):
            self.substitution(n)
        elif kind == "word":
            self.word(n)
        else:
            self.a.problem(f"uses shell syntax that is not analysed ({kind})")

    def slice(self, n) -> str:
        return self.source[n.pos[0]:n.pos[1]]

    def substitution(self, n) -> None:
        self.substitution_starts.add(n.pos[0])
        self.node(n.command)

    def word(self, n) -> _Word:
        dynamic = tilde = False
        parts = getattr(n, "parts", []) or []
        if any(p.kind in ("commandsubstitution", "processsubstitution") for p in parts):
            # bashlex ends $( ) at a ")" inside a comment, where bash reads on to the next line:
            # refuse anything that looks like a comment in a word holding a substitution.
            if re.search(r"(^|[\s;&|(`])#", self.slice(n) + "\n" + n.word):
                self.a.problem("has a comment inside a command substitution, which is not analysed")
        for part in parts:
            if part.kind in ("commandsubstitution", "processsubstitution"):
                dynamic = True
                self.substitution(part)
            elif part.kind == "parameter":
                dynamic = True
                value = getattr(part, "value", "")
                if not _SIMPLE_PARAM.match(value or ""):
                    self.a.problem(
                        f"uses the parameter expansion ${{{value}}}, which is not analysed"
                        if value else "uses a parameter expansion that is not analysed")
            elif part.kind == "tilde":
                tilde = True
            else:
                self.node(part)
        text = n.word
        if not dynamic:
            # bashlex's quote removal is wrong for words like ''rm'' or 'a'"b"'c': redo it.
            own = _remove_quotes(self.slice(n))
            if own is None:
                self.a.problem("has quoting that could not be analysed")
            else:
                text, has_expansion = own
                dynamic = has_expansion
        return _Word(text, dynamic, tilde)

    def redirect(self, r) -> Redirect:
        op = r.type
        heredoc = getattr(r, "heredoc", None)
        if op in ("<<", "<<-"):
            # The operator and its marker only: the body may contain other "<<'X'" text.
            marker_end = r.output.pos[1] if hasattr(r.output, "pos") else r.pos[0] + 2
            self.heredoc_spans.append((r.pos[0], marker_end))
            literal = any(r.pos[0] <= p < marker_end for p in self.literal_heredocs)
            body = getattr(heredoc, "value", "") if heredoc is not None else ""
            if heredoc is not None:
                self.heredoc_bodies.append(tuple(heredoc.pos))
            if not literal and re.search(r"\$[({\[]|`", body or ""):
                self.a.problem("has a here-document whose body runs commands or expansions; "
                               "quote the marker (<<'EOF') to keep it literal")
            return Redirect(op, None, writes=False)
        out = r.output
        if isinstance(out, (int, str)) or out is None:
            return Redirect(op, None, writes=False)
        w = self.word(out)
        if op == ">&" and re.fullmatch(r"[0-9]+-?|-", w.text) and not w.dynamic:
            return Redirect(op, None, writes=False)
        return Redirect(op, w.text, writes=op in _WRITE_OPS, dynamic=w.dynamic or w.tilde)

    def command(self, n) -> None:
        assignments: list[str] = []
        words: list[_Word] = []
        redirects: list[Redirect] = []
        for part in n.parts:
            if part.kind == "assignment" and not words:
                w = self.word(part)
                assignments.append(w.text)
            elif part.kind in ("word", "assignment"):
                words.append(self.word(part))
            elif part.kind == "redirect":
                redirects.append(self.redirect(part))
            else:
                self.node(part)
        cmd = _make_command(words, redirects, assignments, self.wrapper)
        self.a.commands.append(cmd)
        if cmd.words:
            _unwrap(self.a, cmd, self.depth)


def _make_command(words: list[_Word], redirects: list[Redirect], assignments: list[str],
                  wrapper: str | None, *, open_args: bool = False) -> SimpleCommand:
    texts = [w.text for w in words]
    cmd = SimpleCommand(
        words=texts,
        redirects=redirects,
        text=_normalise(texts) if texts else " ".join(
            assignments + [f"{r.op} {r.target}" for r in redirects if r.target is not None]),
        assignments=assignments,
        dynamic=bool(words) and (words[0].dynamic or bool(_GLOB_OR_BRACE.search(words[0].text))),
        open_args=open_args,
        wrapper=wrapper,
        word_dynamic=[w.dynamic for w in words],
    )
    for assignment in assignments:
        _check_assignment(cmd, assignment)
    if texts and not cmd.dynamic:
        _check_builtin(cmd)
    return cmd


def _check_assignment(cmd: SimpleCommand, assignment: str) -> None:
    m = _ASSIGNMENT.match(assignment)
    name = m.group(1) if m else assignment.split("=", 1)[0]
    if name not in _SAFE_VARS and _RISKY_VARS.match(name):
        cmd.notes.append(f"sets {name}, which can change what an allowed program runs")


def _check_builtin(cmd: SimpleCommand) -> None:
    name = cmd.words[0]
    args = cmd.words[1:]
    dyn = cmd.word_dynamic[1:]
    if name in _DECLARE_LIKE:
        for arg in args:
            if arg.startswith(("-", "+")) and "i" in arg[1:]:
                cmd.notes.append("gives variables the integer attribute, so later assignments "
                                 "evaluate arithmetic")
            elif "=" in arg:
                _check_assignment(cmd, arg)
    if name not in _NAME_BUILTINS:
        return
    if name == "let":
        cmd.notes.append("evaluates arithmetic, which can run commands hidden in variables")
        return
    for operand, is_dynamic in _name_operands(name, args, dyn):
        if is_dynamic or "$" in operand or "`" in operand:
            cmd.notes.append("passes a variable name computed at run time, whose array subscripts "
                             "can run commands")
            return
        if "[" in operand:
            cmd.notes.append("passes an array element name, whose subscript bash evaluates")
            return


def _name_operands(name: str, args: list[str], dyn: list[bool]) -> list[tuple[str, bool]]:
    """The arguments of a name-taking builtin that bash treats as variable names."""
    pairs = list(zip(args, dyn))
    flag = {"printf": "-v", "test": "-v", "[": "-v", "wait": "-p"}.get(name)
    if flag is not None:
        out = []
        for k, (arg, is_dynamic) in enumerate(pairs):
            if arg in (flag, "-R") if name in ("test", "[") else arg == flag:
                if k + 1 < len(pairs):
                    out.append(pairs[k + 1])
            elif name != "test" and name != "[" and arg.startswith(flag) and len(arg) > 2:
                out.append((arg[2:], is_dynamic))
        return out
    if name == "getopts":
        return pairs[1:2]
    operands = [(a, d) for a, d in pairs if not a.startswith(("-", "+"))]
    if name in _DECLARE_LIKE:
        # Only the name before "=" matters: a computed value is fine.
        return [(a.split("=", 1)[0], d and "=" not in a) for a, d in operands]
    return operands


# --------------------------------------------------------------------------------------------
# Commands that run other commands


class _UnknownOption(Exception):
    pass


def _options(words: list[str], i: int, *, flags: str = "", with_arg: str = "",
             long_flags: tuple[str, ...] = (), long_with_arg: tuple[str, ...] = (),
             long_optional: tuple[str, ...] = (), attached_optional: str = "",
             ) -> tuple[int, list[tuple[str, str | None]]]:
    """Consume options from ``words[i:]``; return the index of the first operand and the options.

    Raises :class:`_UnknownOption` on anything not listed, so that an option whose value we did not
    expect can never be mistaken for the wrapped command.
    """
    seen: list[tuple[str, str | None]] = []
    while i < len(words):
        w = words[i]
        if w == "--":
            return i + 1, seen
        if not w.startswith("-") or w == "-":
            return i, seen
        if w.startswith("--"):
            name, eq, value = w[2:].partition("=")
            if name in long_with_arg:
                if eq:
                    seen.append((name, value))
                elif i + 1 < len(words):
                    seen.append((name, words[i + 1]))
                    i += 1
                else:
                    raise _UnknownOption(w)
            elif name in long_flags and not eq:
                seen.append((name, None))
            elif name in long_optional:
                seen.append((name, value if eq else None))
            else:
                raise _UnknownOption(w)
            i += 1
            continue
        j = 1
        while j < len(w):
            ch = w[j]
            if ch in flags:
                seen.append((ch, None))
                j += 1
            elif ch in attached_optional:
                seen.append((ch, w[j + 1:] or None))
                break
            elif ch in with_arg:
                if j + 1 < len(w):
                    seen.append((ch, w[j + 1:]))
                elif i + 1 < len(words):
                    seen.append((ch, words[i + 1]))
                    i += 1
                else:
                    raise _UnknownOption(w)
                break
            else:
                raise _UnknownOption(w)
        i += 1
    return i, seen


def _program(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def _inner(analysis: _Analysis, outer: SimpleCommand, start: int, depth: int, wrapper: str,
           *, open_args: bool = False, default: list[str] | None = None,
           placeholders: tuple[str, ...] = (), end: int | None = None) -> None:
    words = outer.words[start:end]
    dyn = outer.word_dynamic[start:end]
    if not words:
        if default:
            words, dyn = default, [False] * len(default)
        else:
            return
    inner = _make_command([_Word(t, d, False) for t, d in zip(words, dyn)], [], [], wrapper,
                          open_args=open_args or outer.open_args)
    inner.placeholders = placeholders or outer.placeholders
    if any(p in words[0] for p in inner.placeholders):
        inner.dynamic = True  # the program itself is replaced at run time
    analysis.commands.append(inner)
    _unwrap(analysis, inner, depth)


def _shell_string(analysis: _Analysis, outer: SimpleCommand, text: str, is_dynamic: bool,
                  depth: int, wrapper: str, *, open_args: bool = False) -> None:
    if is_dynamic:
        analysis.problem(f"passes a command string built at run time to `{wrapper}`")
        return
    if any(p in text for p in outer.placeholders):
        # find -exec sh -c 'cat {}' runs file names as code.
        analysis.problem(f"puts run-time text (file names, input lines) into the `{wrapper}` "
                         "command string; pass it as an argument (\"$1\") instead")
        return
    before = len(analysis.commands)
    _parse_into(analysis, text, depth + 1, wrapper)
    if open_args or outer.open_args:
        for cmd in analysis.commands[before:]:
            cmd.open_args = True


def _unwrap(analysis: _Analysis, cmd: SimpleCommand, depth: int) -> None:
    """Find the commands that ``cmd`` itself runs, and add them to the analysis."""
    if cmd.dynamic:
        return
    words, dyn = cmd.words, cmd.word_dynamic
    prog = _program(words[0])
    try:
        if prog in _SHELLS:
            _unwrap_shell(analysis, cmd, prog, depth)
        elif prog == "eval":
            _shell_string(analysis, cmd, " ".join(words[1:]), any(dyn[1:]), depth, "eval")
        elif prog == "env":
            _unwrap_env(analysis, cmd, depth)
        elif prog in ("sudo", "doas"):
            _unwrap_sudo(analysis, cmd, prog, depth)
        elif prog == "nohup":
            i, _ = _options(words, 1)
            _inner(analysis, cmd, i, depth, prog)
        elif prog == "nice":
            i = 1
            if i < len(words) and re.fullmatch(r"-[-+]?[0-9]+", words[i]):
                i += 1
            i, _ = _options(words, i, with_arg="n", long_with_arg=("adjustment",))
            _inner(analysis, cmd, i, depth, prog)
        elif prog == "time":
            i, opts = _options(words, 1, flags="pvaq", with_arg="fo",
                               long_flags=("portability", "verbose", "append", "quiet"),
                               long_with_arg=("format", "output"))
            for name, value in opts:
                if name in ("o", "output") and value is not None:
                    cmd.extra_writes.append((value, False))
            _inner(analysis, cmd, i, depth, prog)
        elif prog == "timeout":
            i, _ = _options(words, 1, flags="v", with_arg="sk",
                            long_flags=("preserve-status", "foreground", "verbose"),
                            long_with_arg=("signal", "kill-after"))
            _inner(analysis, cmd, i + 1, depth, prog)  # skip DURATION
        elif prog == "exec":
            i, _ = _options(words, 1, flags="cl", with_arg="a")
            _inner(analysis, cmd, i, depth, prog)
        elif prog == "command":
            i, opts = _options(words, 1, flags="pvV")
            if not any(name in ("v", "V") for name, _ in opts):
                _inner(analysis, cmd, i, depth, prog)
        elif prog == "builtin":
            _inner(analysis, cmd, 1, depth, prog)
        elif prog == "xargs":
            i, opts = _options(
                words, 1, flags="0rtpxo", with_arg="ILnPsdEa", attached_optional="iel",
                long_flags=("null", "no-run-if-empty", "verbose", "interactive", "exit", "open-tty",
                            "show-limits"),
                long_with_arg=("arg-file", "delimiter", "max-args", "max-procs", "max-chars",
                               "process-slot-var"),
                long_optional=("eof", "replace", "max-lines"))
            replace = tuple(value or "{}" for name, value in opts if name in ("I", "i", "replace"))
            _inner(analysis, cmd, i, depth, prog, open_args=True, default=["echo"],
                   placeholders=replace)
        elif prog == "find":
            _unwrap_find(analysis, cmd, depth)
        elif prog == "watch":
            i, opts = _options(
                words, 1, flags="tbegcxpwrqC", with_arg="nq",
                long_flags=("no-title", "beep", "errexit", "chgexit", "color", "no-color", "exec",
                            "precise", "no-wrap", "no-linewrap"),
                long_with_arg=("interval", "equexit"), long_optional=("differences",))
            if any(name in ("x", "exec") for name, _ in opts):
                _inner(analysis, cmd, i, depth, prog)
            elif i < len(words):
                _shell_string(analysis, cmd, " ".join(words[i:]), any(dyn[i:]), depth, prog)
        elif prog == "parallel":
            _unwrap_parallel(analysis, cmd, depth)
        elif prog == "stdbuf":
            i, _ = _options(words, 1, with_arg="ioe", long_with_arg=("input", "output", "error"))
            _inner(analysis, cmd, i, depth, prog)
        elif prog == "setsid":
            i, _ = _options(words, 1, flags="cfw", long_flags=("ctty", "fork", "wait"))
            _inner(analysis, cmd, i, depth, prog)
        elif prog == "ionice":
            i, opts = _options(words, 1, flags="t", with_arg="cnpPu",
                               long_flags=("ignore",), long_with_arg=("class", "classdata"))
            if not any(name in ("p", "P", "u") for name, _ in opts):
                _inner(analysis, cmd, i, depth, prog)
        elif prog in ("busybox", "toybox"):
            if len(words) > 1 and not words[1].startswith("-"):
                _inner(analysis, cmd, 1, depth, prog)
        elif prog == "trap":
            i, opts = _options(words, 1, flags="lp")
            if i < len(words) and not opts and words[i] != "-":
                _shell_string(analysis, cmd, words[i], dyn[i], depth, prog)
        elif prog in _UNANALYSED_RUNNERS:
            cmd.notes.append("runs commands in a way that is not analysed")
        elif prog in _UNANALYSED_BUILTINS:
            cmd.notes.append("changes how commands are run, which is not analysed")
        elif prog == "hash" and any(w.startswith("-") and "p" in w for w in words[1:]):
            cmd.notes.append("changes which file a command name runs")
        elif prog == "enable" and any(w.startswith("-") and "f" in w for w in words[1:]):
            cmd.notes.append("loads a builtin from a shared library")
        elif prog in ("uv", "poetry", "pipenv", "pdm", "rye", "conda", "mamba", "micromamba",
                      "bundle") and len(words) > 1:
            _unwrap_runner(analysis, cmd, prog, depth)
    except _UnknownOption as exc:
        cmd.notes.append(f"has an option that is not analysed ({exc})")


def _unwrap_shell(analysis: _Analysis, cmd: SimpleCommand, prog: str, depth: int) -> None:
    words, dyn = cmd.words, cmd.word_dynamic
    command_mode = stdin_mode = False
    i = 1
    while i < len(words):
        w = words[i]
        if w in ("--", "-"):
            i += 1
            break
        if w.startswith("--"):
            if w in ("--rcfile", "--init-file"):
                i += 2
                continue
            i += 1
            continue
        if w.startswith(("-", "+")) and len(w) > 1:
            letters = w[1:]
            if "c" in letters:
                command_mode = True
            if "s" in letters:
                stdin_mode = True
            if "o" in letters or "O" in letters:
                i += 1  # the option name follows
            i += 1
            continue
        break
    if command_mode:
        if i < len(words):
            _shell_string(analysis, cmd, words[i], dyn[i], depth, f"{prog} -c")
        return
    if stdin_mode or i >= len(words):
        cmd.notes.append("runs commands read from its input, which cannot be checked")


def _unwrap_env(analysis: _Analysis, cmd: SimpleCommand, depth: int) -> None:
    words = cmd.words
    i, opts = _options(
        words, 1, flags="i0v", with_arg="uCSP",
        long_flags=("ignore-environment", "null", "debug", "list-signal-handling"),
        long_with_arg=("unset", "chdir", "split-string"),
        long_optional=("default-signal", "ignore-signal", "block-signal"))
    if any(name == "P" for name, _ in opts):
        cmd.notes.append("changes where programs are looked up")
    while i < len(words) and (words[i] == "-" or _ASSIGNMENT.match(words[i])):
        if words[i] != "-":
            _check_assignment(cmd, words[i])
        i += 1
    split = [value for name, value in opts if name in ("S", "split-string")]
    if split:
        rest = " ".join(_quote_word(w) for w in words[i:])
        _shell_string(analysis, cmd, split[-1] + (" " + rest if rest else ""),
                      any(cmd.word_dynamic[1:]), depth, "env -S")
        return
    _inner(analysis, cmd, i, depth, "env")


def _unwrap_sudo(analysis: _Analysis, cmd: SimpleCommand, prog: str, depth: int) -> None:
    words = cmd.words
    if prog == "sudo":
        i, opts = _options(
            words, 1, flags="AbEHnPSiksKlVvBN", with_arg="CDghpRrTtUu",
            long_flags=("askpass", "background", "login", "non-interactive", "preserve-groups",
                        "shell", "stdin", "remove-timestamp", "reset-timestamp", "list", "validate",
                        "bell", "no-update"),
            long_with_arg=("close-from", "chdir", "group", "host", "prompt", "chroot", "role",
                           "type", "command-timeout", "other-user", "user"),
            long_optional=("preserve-env",))
    else:
        i, opts = _options(words, 1, flags="nsL", with_arg="uC")
    names = {name for name, _ in opts}
    if names & {"e", "l", "list", "v", "validate", "k", "K"} and i >= len(words):
        return
    while i < len(words) and _ASSIGNMENT.match(words[i]):
        _check_assignment(cmd, words[i])
        i += 1
    if names & {"s", "i", "shell", "login"}:
        if i < len(words):
            _shell_string(analysis, cmd, " ".join(words[i:]), any(cmd.word_dynamic[i:]), depth,
                          f"{prog} -s")
        else:
            cmd.notes.append("starts an interactive shell")
        return
    _inner(analysis, cmd, i, depth, prog)


_FIND_EXEC = {"-exec", "-execdir", "-ok", "-okdir"}
_FIND_WRITES = {"-fprint": 1, "-fprint0": 1, "-fls": 1, "-fprintf": 1}


def _unwrap_find(analysis: _Analysis, cmd: SimpleCommand, depth: int) -> None:
    words = cmd.words
    i = 1
    while i < len(words):
        w = words[i]
        if w in _FIND_EXEC:
            j = i + 1
            while j < len(words) and words[j] not in (";", "+"):
                j += 1
            if j >= len(words):
                cmd.notes.append(f"has {w} without a terminating ';' or '+'")
                return
            _inner(analysis, cmd, i + 1, depth, f"find {w}", open_args=True, placeholders=("{}",),
                   end=j)
            i = j + 1
            continue
        if w in _FIND_WRITES and i + 1 < len(words):
            cmd.extra_writes.append((words[i + 1], cmd.word_dynamic[i + 1]))
            i += 2
            continue
        i += 1


def _unwrap_parallel(analysis: _Analysis, cmd: SimpleCommand, depth: int) -> None:
    words = cmd.words
    i, _ = _options(
        words, 1, flags="kvXmqu0gr", with_arg="jnNIaSdE",
        long_flags=("keep-order", "verbose", "dry-run", "tag", "null", "bar", "progress", "eta",
                    "group", "ungroup", "line-buffer", "no-run-if-empty", "xargs", "quote"),
        long_with_arg=("jobs", "max-args", "arg-file", "colsep", "delimiter", "halt", "timeout",
                       "joblog", "results", "retries", "delay", "sshlogin", "tagstring"))
    end = i
    while end < len(words) and words[end] not in (":::", "::::", ":::+", "::::+"):
        end += 1
    if end == i:
        cmd.notes.append("runs commands read from its input, which cannot be checked")
        return
    # parallel quotes what it substitutes for {}; other replacement strings are not analysed.
    if any("{" in w and "{}" not in w for w in words[i:end]):
        cmd.notes.append("uses replacement strings that are not analysed")
        return
    _shell_string(analysis, cmd, " ".join(words[i:end]), any(cmd.word_dynamic[i:end]), depth,
                  "parallel", open_args=True)


_UV_RUN_WITH_ARG = (
    "with", "with-editable", "with-requirements", "python", "extra", "group", "no-group",
    "only-group", "package", "directory", "project", "env-file", "index", "default-index",
    "index-url", "extra-index-url", "find-links", "config-file", "cache-dir", "color",
    "exclude-newer", "resolution", "prerelease", "link-mode", "refresh-package",
    "reinstall-package", "upgrade-package", "keyring-provider", "index-strategy", "python-platform",
    "config-setting", "no-binary-package", "no-build-package", "no-extra",
)
_UV_RUN_FLAGS = (
    "no-project", "isolated", "frozen", "locked", "no-sync", "all-extras", "all-groups", "active",
    "no-active", "no-dev", "dev", "only-dev", "no-default-groups", "quiet", "verbose", "offline",
    "no-cache", "refresh", "reinstall", "upgrade", "exact", "inexact", "no-env-file", "no-editable",
    "all-packages", "no-python-downloads", "native-tls", "no-config", "no-progress", "compile-bytecode",
    "no-build-isolation", "no-binary", "no-build", "no-sources", "script", "gui-script", "managed-python",
    "no-managed-python",
)


def _unwrap_runner(analysis: _Analysis, cmd: SimpleCommand, prog: str, depth: int) -> None:
    words = cmd.words
    sub = words[1]
    if prog == "bundle":
        if sub == "exec":
            _inner(analysis, cmd, 2, depth, "bundle exec")
        return
    if sub != "run":
        return
    if prog == "uv":
        i, opts = _options(words, 2, flags="qvpmU", with_arg="pfCP",
                           long_flags=_UV_RUN_FLAGS, long_with_arg=_UV_RUN_WITH_ARG,
                           long_optional=("module",))
        if any(name in ("m", "module") for name, _ in opts):
            return  # runs a Python module, not a program
    elif prog in ("conda", "mamba", "micromamba"):
        i, _ = _options(words, 2, flags="v", with_arg="np",
                        long_flags=("no-capture-output", "live-stream", "debug-wrapper-scripts"),
                        long_with_arg=("name", "prefix", "cwd"))
    else:
        i, _ = _options(words, 2)
    _inner(analysis, cmd, i, depth, f"{prog} run")


def _analyse(command: str) -> _Analysis:
    analysis = _Analysis()
    if not isinstance(command, str):
        analysis.problem("the command must be a string")
        return analysis
    _parse_into(analysis, command, 0, None)
    return analysis


def simple_commands(command: str) -> list[SimpleCommand]:
    """Every simple command ``command`` would run, including ones inside substitutions and the
    commands that wrappers (``xargs``, ``bash -c``, ``env`` ...) run.

    Raises :class:`UnparsableCommand` when the line cannot be parsed or uses shell constructs that
    are not analysed (the message says which).
    """
    analysis = _analyse(command)
    if analysis.problems:
        raise UnparsableCommand(f"cannot check this command: it {analysis.problems[0]}")
    return analysis.commands


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


_GIT_GLOBAL_WITH_ARG = {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path",
                        "--super-prefix", "--config-env", "--list-cmds", "--attr-source"}


def _git_subcommand_index(words: list[str]) -> int | None:
    i = 1
    while i < len(words):
        w = words[i]
        if w in _GIT_GLOBAL_WITH_ARG:
            i += 2
        elif w.startswith("-"):
            i += 1
        else:
            return i
    return None


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
# Destructive commands


def _short_flags(words: list[str]) -> set[str]:
    letters: set[str] = set()
    for w in words:
        if w == "--":
            break
        if w.startswith("-") and not w.startswith("--"):
            letters.update(w[1:])
    return letters


def _long_flags(words: list[str]) -> set[str]:
    out: set[str] = set()
    for w in words:
        if w == "--":
            break
        if w.startswith("--"):
            out.add(w.split("=", 1)[0])
    return out


def _operands(words: list[str]) -> list[str]:
    out: list[str] = []
    after_dashdash = False
    for w in words:
        if after_dashdash:
            out.append(w)
        elif w == "--":
            after_dashdash = True
        elif not w.startswith("-") or w == "-":
            out.append(w)
    return out


def _in_scratch(path: str, root: Path | None) -> bool:
    """True when ``path`` is plainly inside ``<root>/tmp`` (the agent's scratch directory)."""
    if root is None or not path or path.startswith(("/", "~")) or "$" in path or "`" in path:
        return False
    parts = path.split("/")
    if ".." in parts or any(ch in parts[0] for ch in "*?[{"):
        return False
    real = os.path.realpath(os.path.join(root, path))
    return is_within(real, os.path.join(os.path.realpath(root), "tmp"))


def _destructive_reason(words: list[str], root: Path | None, *, open_args: bool = False) -> str | None:
    if not words:
        return None
    prog = _program(words[0])
    args = words[1:]
    if prog == "git":
        sub_i = _git_subcommand_index(words)
        if sub_i is None:
            return None
        sub, rest = words[sub_i], words[sub_i + 1:]
        short, long = _short_flags(rest), _long_flags(rest)
        ops = _operands(rest)
        if sub == "reset" and "--hard" in long:
            return "discards uncommitted changes"
        if sub == "clean" and ("f" in short or "--force" in long):
            return "deletes untracked files"
        if sub == "push" and (
            "f" in short or "d" in short
            or long & {"--force", "--force-with-lease", "--force-if-includes", "--delete",
                       "--mirror", "--prune"}
            or any(o.startswith("+") or (o.startswith(":") and len(o) > 1) for o in ops)
        ):
            return "rewrites or deletes history on the remote"
        if sub == "checkout" and ("f" in short or "--force" in long or "--" in rest
                                  or any(o in (".", "*", ":/") for o in ops)):
            return "discards uncommitted changes"
        if sub == "restore" and not (("S" in short or "--staged" in long)
                                     and not ("W" in short or "--worktree" in long)):
            return "discards uncommitted changes"
        if sub == "switch" and ("f" in short or long & {"--force", "--discard-changes"}):
            return "discards uncommitted changes"
        if sub == "branch" and ("D" in short or (("d" in short or "--delete" in long)
                                                 and ("f" in short or "--force" in long))):
            return "deletes a branch that may not be merged"
        if sub == "stash" and rest[:1] and rest[0] in ("drop", "clear"):
            return "deletes stashed changes"
        return None
    if prog == "rm":
        short, long = _short_flags(args), _long_flags(args)
        if "r" in short or "R" in short or "--recursive" in long or "--no-preserve-root" in long:
            targets = _operands(args)
            if open_args or not targets or not all(_in_scratch(t, root) for t in targets):
                return "deletes directories recursively"
        return None
    if prog == "find" and "-delete" in args:
        return "deletes the files it finds"
    if prog == "dd" and any(a.startswith("of=") for a in args):
        return "overwrites a file or device"
    if prog.startswith("mkfs"):
        return "formats a file system"
    if prog == "shred":
        return "destroys file contents"
    if prog == "truncate":
        return "truncates files"
    return None


def is_destructive(words: list[str], root: Path) -> bool:
    """True when the command ``words`` (leading assignments already removed) destroys work.

    Covered: ``git reset --hard``, ``git clean -f`` (any flag set with ``f``, ``--force``), ``git push``
    with ``--force``/``-f``/``--force-with-lease``/``--delete``/``--mirror``/``--prune`` or a ``+ref``/
    ``:ref`` refspec, ``git checkout -f``/``.``/``-- paths``, ``git restore`` of the work tree,
    ``git switch --discard-changes``, ``git branch -D``, ``git stash drop|clear``, recursive ``rm``
    (``-r``, ``-R``, ``--recursive``) of anything not plainly inside ``<root>/tmp`` (absolute paths,
    ``..``, ``~``, expansions, or a glob in the first path component never count as inside),
    ``find -delete``, ``dd of=``, ``mkfs*``, ``shred`` and ``truncate``. Programs are recognised by
    their base name (``/bin/rm``).
    """
    return _destructive_reason(list(words), root) is not None


# --------------------------------------------------------------------------------------------
# Redirections and directories


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
            destructive = any(
                c.words and _destructive_reason(c.words, root, open_args=c.open_args) is not None
                for c in analysis.commands)
            return CommandDecision(
                Verdict.ASK, f"cannot check this command automatically: it {analysis.problems[0]}",
                found, destructive=destructive)

        asks: list[str] = []
        destructive: list[str] = []
        allowed_by: list[str] = []
        for cmd in analysis.commands:
            if cmd.words:
                reason = _destructive_reason(cmd.words, root, open_args=cmd.open_args)
                if reason is not None:
                    destructive.append(f"`{cmd.text}` is destructive: it {reason}")
                if cmd.dynamic:
                    asks.append(f"`{cmd.text}` runs a command whose name is only known at run time")
                else:
                    rule = self._allowed_by(cmd)
                    if rule is None:
                        asks.append(f"`{cmd.text}` is not covered by an allow rule")
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
            return CommandDecision(Verdict.ASK, _one_line(destructive + asks), found, destructive=True)
        if asks:
            return CommandDecision(Verdict.ASK, _one_line(asks), found)
        if not found:
            return CommandDecision(Verdict.ALLOW, "the line runs no command", found)
        rules = ", ".join(f"`{r}`" for r in allowed_by)
        return CommandDecision(Verdict.ALLOW, f"every command matches an allow rule ({rules})", found)


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
