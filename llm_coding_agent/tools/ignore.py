"""Glob and gitignore matching: a port of ripgrep's ``globset``/``ignore`` semantics.

Both search engines need ripgrep's reading of ``.gitignore`` lines: the ripgrep engine to hand
the rules above the searched path to ``rg --ignore-file`` (see :mod:`.search_rg`), the
pure-Python fallback to apply them while walking (:mod:`.search_py`). This is a port of ripgrep's
own parser (the ``ignore`` and ``globset`` crates) rather than ``pathspec``: that implements git's
wildmatch, and the two disagree on lines such as ``*.{py,md}`` (an alternation for ripgrep,
literal braces for git). Identical output needs ripgrep's reading.

Only ``.gitignore`` files are read (no ``.ignore``/``.rgignore``, no global excludes); rules are
scoped to the directory holding their file and the last matching rule wins, as in ripgrep.
Globs compile to ``bytes`` regexes, since ripgrep matches paths byte-wise.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ..errors import ToolError
from .files import read_bytes


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
        data = read_bytes(path, ".gitignore")  # never blocks on a FIFO named .gitignore
    except (OSError, ToolError):
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
