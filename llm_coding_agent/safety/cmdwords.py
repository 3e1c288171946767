"""The pieces :mod:`.cmdline` builds a parsed command line from.

Here are the result types (:class:`SimpleCommand`, :class:`Redirect`, :class:`UnparsableCommand`);
bash's rules where bashlex is wrong or silent (quote removal, where command substitutions start,
quoted here-document markers, the ``time`` keyword); the call into :mod:`bashlex` under a step and
time budget, which imports bashlex on first use; the strict option parser that wrappers are read
with; and the checks on one simple command (assignments to variables that change what a program
runs, builtins that take variable names). Also small helpers on a command's words that
:mod:`.rules` and :mod:`.destructive` share (``_program``, ``_git_subcommand_index``).

Nothing here imports another module of the safety layer: :mod:`.cmdline` builds on this module,
and :mod:`.rules` and :mod:`.destructive` on both.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import time
from dataclasses import dataclass, field

from ..errors import ToolError

__all__ = [
    "UnparsableCommand",
    "Redirect",
    "SimpleCommand",
]


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
