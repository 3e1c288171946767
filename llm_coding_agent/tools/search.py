"""Find files and search their contents: the front of the list_files/search_files tools.

This module holds the public functions (:func:`list_files`, :func:`search_files`,
:func:`find_rg`), their argument checks, the choice of engine and the output formatting both
engines share. The work is done by one of two engines that give byte-identical output over the
same file set:

* **ripgrep** (``rg``, shipped by the ``ripgrep`` wheel; :mod:`.search_rg`), used when
  :func:`find_rg` finds a runnable binary. It walks and searches in parallel.
* a **pure-Python fallback** (:mod:`.search_py`) that reimplements the same rules, used when no
  ``rg`` runs. Its reading of ``.gitignore`` files is a port of ripgrep's own (:mod:`.ignore`).

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
orders by path, then line. Paths sort component by component, byte-wise. When there are more
results than the limit, the last line says how many were left out and that the results were
truncated; a matching line longer than :data:`MAX_LINE_CHARS` is cut and ends with
:data:`LINE_TRUNCATED`.

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

Imports go one way: this module imports the engines; the engines import :mod:`.search_common`
and :mod:`.ignore`, never this module.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

from ..errors import ToolError
from .paths import is_within, relative_display
from .ignore import _ancestor_rules, _read_gitignore
from .search_common import _excluded_by, _scan_dir, _user_glob
from .search_py import _list_python, _python_regex, _scan_file, _search_python
from .search_rg import _list_rg, _search_rg, _search_rg_file
# Re-exported for bench/tools.py, which builds its ripgrep baselines from the same flags.
from .search_rg import _RG_SEARCH_FLAGS, _RG_WALK_FLAGS  # noqa: F401

__all__ = ["find_rg", "list_files", "search_files", "directory_entries", "MAX_LINE_CHARS", "LINE_TRUNCATED"]


#: Matching lines longer than this (in characters) are cut and marked.
MAX_LINE_CHARS = 300
LINE_TRUNCATED = "… [line truncated]"

# Older ripgrep releases lack some of the flags search_rg passes or parse ignore files differently.
_RG_MIN_MAJOR = 13


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


# --------------------------------------------------------------------------------------------
# Argument checks and output formatting (shared by both engines' results)


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
    if allow_file and not is_dir and not stat.S_ISREG(st.st_mode):
        raise ToolError(f"{relative_display(root, base)} is not a directory or a regular file "
                        "(a FIFO, socket or device); search a directory or a regular file")
    if not is_dir and not (allow_file and stat.S_ISREG(st.st_mode)):
        raise ToolError(f"{relative_display(root, base)} is not a directory; pass a "
                        "directory as path (use the glob/pattern to select files)")
    base_rel = b"" if base_b == root_b else base_b[len(root_b.rstrip(b"/")) + 1:]
    return root_b, base_b, base_rel, is_dir


def _check_count(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ToolError(f"{name} must be a positive integer, got {value!r}")
    return value


def _show_path(rel: bytes) -> str:
    return rel.decode("utf-8", "replace")


def _show_line(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    if text.endswith("\r"):
        text = text[:-1]
    if len(text) > MAX_LINE_CHARS:
        text = text[:MAX_LINE_CHARS] + LINE_TRUNCATED
    return text


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
        lines.append(f"[{total - len(top)} more files not shown (results truncated); "
                     "narrow the pattern or path]")
    return "\n".join(lines)


def directory_entries(root: Path, directory: str) -> tuple[list[str], list[str]]:
    """(subdirectory names, file names) of one directory of the project, ``directory`` being
    relative to ``root`` ("" for the root), with the file set's rules: no hidden directories,
    ``node_modules`` or ``__pycache__``, nothing ``.gitignore`` excludes, no symlinks. For
    completing a path a level at a time (``llm code``'s ``@`` mentions) without walking the tree.
    Nothing outside ``root`` is listed: a directory there, or missing, gives two empty lists."""
    root_b = os.fsencode(root)
    rel = os.fsencode(directory.strip("/"))
    if rel and (rel.startswith(b"/") or b".." in rel.split(b"/")):
        return [], []
    base_b = os.path.join(root_b, rel) if rel else root_b
    # A symlinked directory on the way could lead out of the root: the real path must stay in.
    real_root = os.path.realpath(root_b)
    if not os.path.isdir(base_b) or os.path.realpath(base_b) != os.path.join(real_root, rel).rstrip(b"/"):
        return [], []
    rules = _ancestor_rules(root_b, rel) + _read_gitignore(base_b, rel)
    dirs, files = _scan_dir(base_b, b"", rel, rules)
    return sorted(_show_path(name) for name, _, _ in dirs), sorted(_show_path(name) for name, _ in files)


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
        lines.append(f"[{total - len(shown)} more matches not shown (results truncated); "
                     "narrow the pattern or add a glob]")
    return "\n".join(lines)
