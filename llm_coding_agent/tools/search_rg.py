"""The ripgrep engine behind :func:`.search.list_files` and :func:`.search.search_files`.

Runs ``rg`` (found by :func:`.search.find_rg`) with flags that give exactly the file set described
in :mod:`.search`, and turns its output into the same (path, ...) results as the pure-Python
fallback in :mod:`.search_py`; the front formats them.

* ``list_files``: the tree is split into subtrees (:func:`_partition`), each listed by its own
  ``rg --files --sortr=modified`` process in parallel; only the head of each sorted stream is
  stat()ed and merged.
* ``search_files``: ``rg --count`` finds the matching line count of every file, then ``rg -n``
  prints the lines of just the first files in path order.

``.gitignore`` rules between the root and the searched path are rewritten relative to the root
and handed over with ``--ignore-file`` (rg is told not to read parent ignore files itself).
"""

from __future__ import annotations

import heapq
import os
import re
import subprocess
import tempfile
import time

from ..errors import ToolError
from .files import open_regular
from .ignore import _MATCH_ALL_REGEX, _ancestor_rules, _read_gitignore, _Rule, _ScopedRule
from .search_common import (_excluded_by, _invalid_regex, _mtime_order, _path_key, _scan_dir,
                            _UserGlob)


#: A single ripgrep run longer than this is abandoned (seconds).
RG_TIMEOUT = 120.0

# ripgrep prints a preview of lines longer than this many bytes instead of the whole line, which
# keeps a minified file from flooding memory. Any such line is longer than search.MAX_LINE_CHARS
# characters, so it is cut anyway, from the same first characters.
_RG_PREVIEW_COLUMNS = 4096

# Flags for every ripgrep walk: exactly the ignore sources described in search.py's docstring.
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
# Running ripgrep


def _run_rg(args: list, cwd: bytes) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=RG_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ToolError(f"the search took longer than {RG_TIMEOUT:.0f} s; "
                        "use a narrower path, pattern or glob") from None
    except OSError as exc:
        raise ToolError(f"could not run ripgrep: {exc}") from None


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
# Ignore rules and globs for rg


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


def _type_flags(glob: _UserGlob | None) -> list[str]:
    if glob is None or glob.rg_type is None:
        return []
    return [f"--type-add={_RG_TYPE_NAME}:{glob.rg_type}", f"--type={_RG_TYPE_NAME}"]


def _needs_python_filter(glob: _UserGlob | None) -> bool:
    return glob is not None and glob.regex is not None and glob.rg_type is None


# --------------------------------------------------------------------------------------------
# list_files


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
        with open_regular(path, "file") as fh:
            while chunk := fh.read(1 << 20):
                if b"\0" in chunk:
                    return True
    except (OSError, ToolError):
        return True
    return False
