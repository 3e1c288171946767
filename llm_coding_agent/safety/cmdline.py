"""Parse a shell command line into every simple command it would run.

A command line is parsed with :mod:`bashlex` and every *simple command* it would run is found
(:func:`simple_commands`), so that each can be checked on its own and the raw string is never
matched (the checking is :mod:`.rules`). Simple commands are found in pipelines, lists (``;``,
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
* Commands run with arguments that are only known at run time (``xargs``, ``find -exec``,
  ``parallel``) are marked ``open_args``.
* Programs known to run other commands in ways not analysed here (``ssh``, ``su``, ``chroot``,
  ``strace``, ``flock``, ``script``, ``unbuffer`` ...) and shells reading commands from standard
  input (``curl x | sh``) get a note, so that they always need the user's approval.

A line that cannot be parsed, or uses constructs not analysed here (listed under "Verdicts" in
:mod:`.rules`), is a problem: :func:`simple_commands` raises :class:`UnparsableCommand`.

The walk of bashlex's tree and the unwrapping of commands that run other commands call each
other (a shell string is parsed in turn), so both live here; the pieces they are built from (the
result types, bash quoting rules, the guarded bashlex call, option parsing, the checks on one
command) are in :mod:`.cmdwords`.
"""

from __future__ import annotations

import re

from .cmdwords import (
    _ASSIGNMENT, _SHELLS, _UNANALYSED_BUILTINS, _UNANALYSED_RUNNERS, _Analysis,
    _ParseBudgetExceeded, _UnknownOption, _Word, _check_assignment, _guarded_parse, _make_command,
    _only_comments, _options, _prepare, _program, _quote_word, _remove_quotes, _scan_substitutions,
    _short, Redirect, SimpleCommand, UnparsableCommand,
)

__all__ = [
    "UnparsableCommand",
    "Redirect",
    "SimpleCommand",
    "simple_commands",
]


# --------------------------------------------------------------------------------------------
# Parsing


_MAX_DEPTH = 6
_MAX_LENGTH = 100_000

_WRITE_OPS = {">", ">>", ">|", "&>", "&>>", "<>", ">&"}
_SIMPLE_PARAM = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!-])$")


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


# --------------------------------------------------------------------------------------------
# Commands that run other commands


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
