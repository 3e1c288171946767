"""``CodingTools``: the six tools, confined to one root directory, as an ``llm.Toolbox``.

Models see them as ``CodingTools_read_file`` and so on; Python callers use the methods directly.
Each tool returns a string; anything that goes wrong comes back as ``Error: ...`` with a hint the
model can act on, never as an exception.
"""

from __future__ import annotations

import functools
import json
import os
import re
import stat
from pathlib import Path
from typing import Callable

import llm

from . import checks, editmatch, files, search, shell, wholefile
from ..config import SANDBOX_MODES
from ..errors import ToolError
from .paths import relative_display, resolve_in_root, resolve_root
from .sandbox import SandboxConfig, SandboxUnavailable, bwrap_problem

__all__ = ["CodingTools", "READ_ONLY_TOOLS", "MUTATING_TOOLS", "FILE_CHANGING_TOOLS"]

#: Tool methods that never change anything: they never need approval.
READ_ONLY_TOOLS = frozenset({"read_file", "list_files", "search_files"})
#: The tools that change files themselves (a command may too, but nobody can tell which).
FILE_CHANGING_TOOLS = frozenset({"write_file", "edit_file"})
#: Tool methods that change files or run commands.
MUTATING_TOOLS = FILE_CHANGING_TOOLS | {"execute_command"}

MAX_COMMAND_TIMEOUT = 600


def _tool(method: Callable[..., str]) -> Callable[..., str]:
    """Turn a ToolError (and bad argument types) into the ``Error: ...`` string the model reads."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs) -> str:
        try:
            return method(self, *args, **kwargs)
        except ToolError as ex:
            return f"Error: {ex}"
        except (TypeError, ValueError) as ex:
            return f"Error: invalid arguments for {method.__name__}: {ex}"
        except OSError as ex:
            return f"Error: {ex.strerror or ex} ({method.__name__})"
        except Exception as ex:
            # A bug in a tool still answers the way every tool error does (callers test for
            # "Error:"); llm would turn it into "Error: ..." for the model, but Python callers
            # and the UI would see a traceback.
            return f"Error: {method.__name__} failed unexpectedly: {type(ex).__name__}: {ex}"

    return wrapper


def glob_escape(name: str) -> str:
    """``name`` as a literal in a gitignore-style glob."""
    return "".join(f"[{c}]" if c in "*?[]{}!\\" else c for c in name)


def _as_int(value, name: str) -> int:
    if isinstance(value, bool):
        raise ToolError(f"{name} must be an integer, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ToolError(f"{name} must be an integer, got {value!r}")


def _as_str(value, name: str) -> str:
    if not isinstance(value, str):
        raise ToolError(f"{name} must be a string, got {type(value).__name__}")
    return value


class CodingTools(llm.Toolbox):
    """Read, write, edit, list and search files and run commands inside one project directory.

    Every path is relative to the project root (absolute paths inside it work too); nothing outside
    the root can be read or written, symlinks included.
    """

    #: The llm plugin that provides this toolbox. llm only rebuilds plugin tools when a logged
    #: conversation is continued, so it must be set even when the class is used directly.
    plugin = "coding_agent"

    def __init__(
        self,
        root: str = ".",
        sandbox: str = "auto",
        network: bool = False,
        env_allow: list | None = None,
        lenient_edits: bool = False,
        check_edits: bool = False,
        prefer_whole_file: bool = False,
    ):
        # Constructor arguments are logged as JSON by llm, so they are plain str/bool/list.
        if sandbox not in SANDBOX_MODES:
            raise ValueError(f"sandbox must be one of {', '.join(SANDBOX_MODES)}")
        self._root = resolve_root(root)
        self._sandbox_mode = sandbox
        self._network = bool(network)
        self._env_allow = list(env_allow or [])
        self._unsandboxed_ok = sandbox == "off"
        # (mtime_ns, size) of each file when this toolbox last read or wrote it: stale-edit guard.
        self._seen: dict[Path, tuple[int, int]] = {}
        self._last_plan: tuple[tuple, tuple[str, str | None]] | None = None
        #: Receives a running command's output as it arrives (set by a user interface; not part
        #: of any tool's signature, so the model never sees it).
        self._on_output: Callable[[str], None] | None = None
        # What a model profile turns on (``ModelProfile.toolbox_options``); an agent that
        # switches models sets these attributes again.
        #: edit_file tolerates copied line numbers, trailing whitespace and a uniform
        #: indentation difference when exactly one region matches (:mod:`.editmatch`).
        self.lenient_edits = bool(lenient_edits)
        #: A .py file is not written when the change would leave it unable to compile; accepted
        #: changes report undefined names (:mod:`.checks`).
        self.check_edits = bool(check_edits)
        #: edit_file's not-found error on a small file suggests write_file with the whole content,
        #: and a write_file dropping functions or classes is refused until sent again (:mod:`.wholefile`).
        self.prefer_whole_file = bool(prefer_whole_file)
        #: (path, hash of content) of whole-file writes refused for dropping definitions.
        self._refused_writes: set[tuple[str, int]] = set()
        #: Set while the agent plans: every call that could change files passes it first (it
        #: returns why the call is refused, or None), and sandboxed commands see the root
        #: read-only. The agent refuses such calls before they get here; this is the backstop.
        self._read_only_check: Callable[[str, dict], str | None] | None = None

    # -- helpers (underscored: llm only turns public methods into tools) -------------------------

    def _resolve(self, path: str, *, for_write: bool = False) -> tuple[Path, str]:
        real = resolve_in_root(self._root, _as_str(path, "path"), for_write=for_write)
        return real, relative_display(self._root, real)

    def _remember(self, real: Path) -> None:
        try:
            st = real.stat()
        except OSError:
            self._seen.pop(real, None)
            return
        self._seen[real] = (st.st_mtime_ns, st.st_size)

    def _file_state(self, path: str) -> tuple[Path, os.stat_result] | None:
        """(real path, stat) of a regular file inside the root; None for anything else."""
        try:
            real, _ = self._resolve(path)
            st = real.stat()
        except (ToolError, OSError, ValueError):
            return None
        return (real, st) if stat.S_ISREG(st.st_mode) else None

    def _seen_unchanged(self, real: Path, st: os.stat_result) -> bool:
        """The model read or wrote this file and it has not changed since."""
        return self._seen.get(real) == (st.st_mtime_ns, st.st_size)

    def _check_fresh(self, real: Path, display: str) -> None:
        if real not in self._seen:
            return
        try:
            st = real.stat()
        except FileNotFoundError:
            raise ToolError(
                f"{display} was deleted since you last read it; check with list_files before writing"
            ) from None
        if not self._seen_unchanged(real, st):
            raise ToolError(
                f"{display} changed on disk since you last read or wrote it (another program or "
                "the user edited it); read_file it again, then redo your change"
            )

    def _require_file(self, real: Path, display: str) -> None:
        """Refuse a missing file, naming files with the same name elsewhere in the project
        (models often guess a layout: ``src/calc.py`` for ``calc.py``)."""
        if real.exists() or real.is_symlink():
            return
        hint = "use list_files or search_files to find the right path"
        try:
            found = search.list_files(self._root, self._root, f"**/{glob_escape(real.name)}", limit=5)
        except ToolError:
            found = ""
        candidates = [line for line in found.splitlines() if line and not line.startswith(("[", "No files"))]
        if candidates:
            hint = "did you mean " + " or ".join(candidates) + "?"
        raise ToolError(f"{display} not found: it does not exist; {hint}")

    def _sandbox(self) -> SandboxConfig | None:
        """The sandbox for the next command, or None when the user chose to run unsandboxed."""
        if self._sandbox_mode == "off":
            return None
        problem = bwrap_problem()
        if problem is None:
            return SandboxConfig(
                root=self._root, network=self._network, read_only=self._read_only_check is not None
            )
        if self._unsandboxed_ok and self._sandbox_mode == "auto":
            return None
        raise SandboxUnavailable(
            f"commands run sandboxed, but {problem}. Tell the user; they can allow unsandboxed "
            "commands (sandbox off) or install bubblewrap"
        )

    def _refuse_if_read_only(self, name: str, arguments: dict) -> None:
        problem = self._read_only_check(name, arguments) if self._read_only_check else None
        if problem:
            raise ToolError(problem)

    def _allow_unsandboxed(self, allowed: bool = True) -> None:
        """Called once the user agreed to run commands without a sandbox (bwrap unavailable)."""
        self._unsandboxed_ok = allowed

    def _sandbox_status(self) -> str:
        """One line for headers: whether commands run sandboxed."""
        if self._sandbox_mode == "off":
            return "sandbox off"
        problem = bwrap_problem()
        if problem is None:
            return "sandboxed (bwrap" + (", network on)" if self._network else ", no network)")
        return f"NOT sandboxed: {problem}"

    def _plan(self, name: str, arguments: dict) -> tuple[str, str | None]:
        """(preview, error) for a mutating call, computed without touching anything.

        The preview is the unified diff an edit or write would make, or the command; ``error`` is
        the ``Error:`` text when the call is bound to fail (nothing to approve then). The approval
        policy, the loop and the approval prompt all ask for the same call's plan; it is computed
        once while the file stays as it was.
        """
        key = self._plan_key(name, arguments)
        if key is not None and self._last_plan is not None and self._last_plan[0] == key:
            return self._last_plan[1]
        plan = self._compute_plan(name, arguments)
        self._last_plan = (key, plan) if key is not None else None
        return plan

    def _plan_key(self, name: str, arguments: dict) -> tuple | None:
        """What a file change's plan depends on: the call and the target file's identity."""
        if name not in FILE_CHANGING_TOOLS or not isinstance(arguments, dict):
            return None
        try:
            real, _ = self._resolve(arguments.get("path"), for_write=True)
            call = json.dumps(arguments, sort_keys=True)
        except (ToolError, TypeError, ValueError):
            return None
        try:
            st = os.stat(real)
            state = (st.st_ino, st.st_mtime_ns, st.st_size, st.st_mode)
        except OSError:
            state = None
        return name, call, str(real), state

    def _change(self, name: str, arguments: dict) -> tuple[str, str, str]:
        """(display path, text before, text after) of a ``write_file``/``edit_file`` call,
        computed without touching anything; raises ToolError when the call would fail."""
        real, display = self._resolve(arguments.get("path"), for_write=True)
        if name == "write_file":
            content, _ = self._write_content(_as_str(arguments.get("content"), "content"), display)
            if real.is_dir():
                raise ToolError(f"{display} is a directory; give a file path")
            files.check_regular(real, display)
            before = files.decode_file(real, display).text if real.exists() else None
            content, _ = self._restore_mangled(display, before, content)
            content, _ = self._keep_left_out(display, before, content)
            self._refuse_lossy_write(display, before, content)
            self._refuse_broken(display, before, content, "write")
            return display, before or "", content
        if name != "edit_file":
            raise ToolError(f"{name} does not change a file")
        self._require_file(real, display)
        decoded = files.decode_file(real, display)
        after, _ = self._plan_edit(
            decoded.text,
            _as_str(arguments.get("old_string"), "old_string"),
            _as_str(arguments.get("new_string"), "new_string"),
            bool(arguments.get("replace_all", False)),
            display,
        )
        self._refuse_broken(display, decoded.text, after, "edit")
        return display, decoded.text, after

    def _plan_edit(self, text: str, old: str, new: str, replace_all: bool, display: str) -> tuple[str, str]:
        """(the text after the edit, what lenient matching tolerated or ""); raises ToolError
        when the edit cannot be made."""
        try:
            return files.plan_edit(text, old, new, replace_all, display), ""
        except files.EditNotFound as ex:
            if self.lenient_edits:
                match = editmatch.find_lenient_match(text, old, new, display)
                if match is not None:
                    return match.apply(text), match.tolerated
            message = str(ex)
            if self.prefer_whole_file and len(text.splitlines()) < files.WHOLE_FILE_LINES:
                message += " For a file this small, you can also call write_file with the complete new content."
            raise ToolError(message) from None

    def _write_content(self, content: str, display: str) -> tuple[str, str]:
        """(``write_file``'s content, a note on what was tolerated or ""): under ``lenient_edits``
        the line-number prefixes of a file copied from a numbered read are removed, and so are
        line numbers glued to every line when only their removal makes the file compile or parse."""
        if self.lenient_edits:
            stripped = editmatch.strip_numbered_content(content)
            if stripped is not None:
                return stripped, "; the read_file line numbers you copied were removed"
            glued = editmatch.strip_glued_numbers(content)
            if (glued is not None and not checks.passes_check(display, content)
                    and checks.passes_check(display, glued)):
                return glued, "; the line numbers at the start of every line were removed"
        return content, ""

    def _restore_mangled(self, display: str, before: str | None, content: str) -> tuple[str, str]:
        """Under ``lenient_edits``: (the content with lines that only lost quotes put back from the
        file, a note on it or "") (tools/wholefile.py ``restore_mangled_lines``)."""
        if not self.lenient_edits or before is None:
            return content, ""
        content, restored = wholefile.restore_mangled_lines(display, before, content)
        if not restored:
            return content, ""
        which = ", ".join(str(n) for n in restored)
        return content, f"; line {which} did not compile as sent and was kept as the file had it (quotes lost)"

    def _keep_left_out(self, display: str, before: str | None, content: str) -> tuple[str, str]:
        """Under ``prefer_whole_file`` and ``lenient_edits`` (the small profile): (the content with
        the module-level functions and classes it left out kept from the file, a note on it or "")
        (tools/wholefile.py ``keep_left_out_definitions``)."""
        if not (self.prefer_whole_file and self.lenient_edits) or before is None:
            return content, ""
        content, kept = wholefile.keep_left_out_definitions(display, before, content)
        if not kept:
            return content, ""
        names = ", ".join(kept)
        return content, (f"; {names}, left out of your content, kept as the file had "
                         f"{'them' if len(kept) > 1 else 'it'}: write_file never deletes a function or "
                         "class here (if one must go, say so in your answer)")

    def _refuse_lossy_write(self, display: str, before: str | None, content: str) -> None:
        """Refuse a whole-file write that would lose code: an elision marker in any profile, and
        under ``prefer_whole_file`` dropped Python functions or classes (tools/wholefile.py)."""
        key = (display, hash(content))
        confirmed = key in self._refused_writes
        try:
            wholefile.refuse_lossy_write(display, before, content, check_definitions=self.prefer_whole_file,
                                         confirmed=confirmed)
        except ToolError:
            self._refused_writes.add(key)  # the same content sent again is a confirmation
            raise

    def _refuse_broken(self, display: str, before: str | None, after: str, verb: str) -> None:
        """Under ``check_edits``, refuse a change that leaves a Python file unable to compile or a
        JSON file unable to parse."""
        if self.check_edits:
            checks.refuse_broken_python(display, before, after, verb)
            checks.refuse_broken_json(display, before, after, verb)

    def _check_line(self, display: str, before: str | None, after: str) -> str:
        """Under ``check_edits``, the line reporting on a changed Python file ("" otherwise),
        starting on a new line: whether it compiles, names it leaves undefined, and functions or
        classes it renamed or removed that other files still use (a rename done in one file of
        several is the usual half-done change)."""
        if not self.check_edits:
            return ""
        line = checks.python_check_line(display, before, after, self._still_used_elsewhere(display, before, after))
        return "\n" + line if line else ""

    def _still_used_elsewhere(self, display: str, before: str | None, after: str) -> str:
        """"NAME (now NEW) is no longer defined in FILE but still used at a.py:3 `line`, b.py:7
        `line`" for the module-level names the change removed that other Python files of the
        project mention ("" if none). The lines are quoted and a rename names the new name: a
        small model told only "a.py:3" re-sent the file it had just changed."""
        if before is None:
            return ""
        new_name = checks.renamed_to(before, after, display)
        found = []
        for name in checks.removed_top_level_names(before, after, display)[:3]:
            try:
                hits = search.search_files(self._root, self._root, rf"\b{name}\b", "*.py", 20)
            except ToolError:
                continue
            places = [(m.group(1), m.group(2).strip()) for m in re.finditer(r"^(.+?:\d+):(.*)$", hits, re.MULTILINE)
                      if not m.group(1).startswith(display + ":")]
            if places:
                more = f" and {len(places) - 5} more" if len(places) > 5 else ""
                quoted = ", ".join(f"{place} `{text[:80]}`" for place, text in places[:5])
                now = f" (now {new_name})" if new_name else ""
                found.append(f"{name}{now} is no longer defined in {display} but is still used at {quoted}{more}")
        return "; ".join(found)

    def _compute_plan(self, name: str, arguments: dict) -> tuple[str, str | None]:
        try:
            if name in FILE_CHANGING_TOOLS:
                display, before, after = self._change(name, arguments)
                return files.unified_diff(before, after, display) or f"(no change to {display})", None
            if name == "execute_command":
                return f"$ {arguments.get('command')}", None
        except ToolError as ex:
            return f"(this call will fail: {ex})", f"Error: {ex}"
        return "", None

    def _preview(self, name: str, arguments: dict) -> str:
        """What a mutating call would do, computed without touching anything (approval prompts)."""
        return self._plan(name, arguments)[0]

    # -- the tools --------------------------------------------------------------------------------

    @_tool
    def read_file(self, path: str, offset: int = 0, limit: int = 2000) -> str:
        """Read a text file, with line numbers (like `cat -n`).

        offset: 0-based index of the first line to show; limit: how many lines (default 2000).
        Long files end with a line telling the offset to read on from. Read a file before editing it.
        """
        real, display = self._resolve(path)
        self._require_file(real, display)
        page = files.read_page(real, display, _as_int(offset, "offset"), _as_int(limit, "limit"))
        self._remember(real)
        return page

    @_tool
    def write_file(self, path: str, content: str) -> str:
        """Create a file, or replace a file's whole content. Parent directories are created.

        Prefer edit_file for changing part of an existing file.
        """
        self._refuse_if_read_only("write_file", {"path": path, "content": content})
        real, display = self._resolve(path, for_write=True)
        content, tolerated = self._write_content(_as_str(content, "content"), display)
        if real.is_dir():
            raise ToolError(f"{display} is a directory; give a file path")
        files.check_regular(real, display)
        existed = real.exists()
        encoding, mode, before = "utf-8", None, None
        if existed:
            self._check_fresh(real, display)
            try:
                old = files.decode_file(real, display)
                encoding, mode, before = old.encoding, old.mode, old.text
                content, restored = self._restore_mangled(display, before, content)
                content, kept = self._keep_left_out(display, before, content)
                tolerated += restored + kept
                # Keep a CRLF file CRLF: models almost always send "\n".
                if "\r\n" in old.text and "\r\n" not in content:
                    content = content.replace("\n", "\r\n")
            except ToolError:
                mode = os.stat(real).st_mode & 0o7777  # binary file being replaced
        data = files.encode_text(content, encoding, display)
        if existed and files.read_bytes(real, display) == data:
            self._remember(real)
            return f"Unchanged: {display} already has exactly this content ({len(data)} bytes); nothing was written"
        self._refuse_lossy_write(display, before, content)
        self._refuse_broken(display, before, content, "write")
        files.atomic_write(real, data, mode)
        self._remember(real)
        verb = "Overwrote" if existed else "Created"
        return f"{verb} {display} ({len(data)} bytes{tolerated})" + self._check_line(display, before, content)

    @_tool
    def edit_file(
        self, path: str, old_string: str, new_string: str, replace_all: bool = False
    ) -> str:
        """Replace exact text in a file and return the diff.

        old_string must match the file exactly (including indentation) and occur once, unless
        replace_all is true. Copy it from read_file output without the line-number prefix.
        """
        self._refuse_if_read_only("edit_file", {"path": path, "old_string": old_string, "new_string": new_string})
        real, display = self._resolve(path, for_write=True)
        old_string = _as_str(old_string, "old_string")
        new_string = _as_str(new_string, "new_string")
        if not isinstance(replace_all, bool):
            replace_all = str(replace_all).strip().lower() in ("true", "1", "yes")
        self._require_file(real, display)
        self._check_fresh(real, display)
        decoded = files.decode_file(real, display)
        after, tolerated = self._plan_edit(decoded.text, old_string, new_string, replace_all, display)
        self._refuse_broken(display, decoded.text, after, "edit")
        files.atomic_write(real, files.encode_text(after, decoded.encoding, display), decoded.mode)
        self._remember(real)
        diff = files.unified_diff(decoded.text, after, display)
        added, removed = files.diff_stats(diff)
        count = ""
        if replace_all:
            # 0.1a0 reported the count; callers parse "N replacements".
            n = decoded.text.count(old_string) if not tolerated else 1
            count = f", {n} replacement{'s' if n != 1 else ''}"
        if tolerated:
            # Said so that the model learns the exact form, and a reader sees why it matched.
            count += f"; old_string matched after {tolerated}"
        check = self._check_line(display, decoded.text, after)
        return f"Edited {display} (+{added} -{removed}{count})\n{diff}{check}"

    @_tool
    def list_files(self, pattern: str = "**/*", path: str = ".") -> str:
        """List files matching a glob (e.g. "**/*.py", "src/*.js") under a directory, newest first.

        Skips hidden directories, node_modules, __pycache__ and anything .gitignore excludes.
        """
        real, display = self._resolve(path)
        if not real.is_dir():
            raise ToolError(f"{display} is not a directory; give a directory as path")
        return search.list_files(self._root, real, _as_str(pattern, "pattern") or "**/*")

    @_tool
    def search_files(
        self, pattern: str, path: str = ".", glob: str | None = None, max_results: int = 100
    ) -> str:
        """Search file contents with a regular expression (ripgrep syntax).

        Returns lines as path:line:content (paths relative to the project root). glob filters files
        (e.g. "*.py"); path limits the search to a directory or file.
        """
        real, display = self._resolve(path)
        if glob is not None:
            glob = _as_str(glob, "glob")
        return search.search_files(
            self._root, real, _as_str(pattern, "pattern"), glob, _as_int(max_results, "max_results")
        )

    @_tool
    def execute_command(self, command: str, timeout: int = 120) -> str:
        """Run a shell command in the project root and return its output and exit code.

        stdout and stderr are combined; stdin is closed (nothing can wait for input). timeout is in
        seconds (at most 600). Use it to run tests, linters, git and build tools.
        """
        command = _as_str(command, "command")
        if not command.strip():
            raise ToolError("command is empty")
        self._refuse_if_read_only("execute_command", {"command": command})
        seconds = _as_int(timeout, "timeout")
        if seconds < 1:
            raise ToolError("timeout must be at least 1 second")
        seconds = min(seconds, MAX_COMMAND_TIMEOUT)
        env = shell.child_environment(os.environ, self._env_allow)
        sandbox = self._sandbox()
        if sandbox is None and self._read_only_check is not None:
            raise ToolError("while planning, commands run only in the sandbox (the project read-only), and it is off")
        result = shell.run_command(
            command, self._root, seconds, env=env, sandbox=sandbox, on_output=self._on_output
        )
        return shell.format_command_output(result, seconds)
