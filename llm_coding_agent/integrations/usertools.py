"""Tools the agent writes: ``create_tool(name, description, code)`` saves a Python function as
``.llm-code/tools/NAME.py``, and every such file is a tool, run in a separate process.

A tool file is plain Python with a comment header::

    # llm-code tool: count_lines
    # description: Count the lines of a text file in the project.
    def count_lines(path: str) -> int:
        with open(path) as f:
            return sum(1 for _ in f)

The tool's parameters come from the function's signature, read from the source (``ast``), so
nothing of the code runs in the agent's process: annotations ``str``, ``int``, ``float``,
``bool``, ``list``, ``dict`` give the JSON types, parameters with defaults are optional. A call
runs ``python -c RUNNER FILE NAME`` with the arguments as JSON on stdin, with the project root as
its working directory, in the sandbox when commands are sandboxed, with a timeout; the function's
return value (a string as is, anything else as JSON) is the result.

Such tools change things, so each call asks, unless the user marks the tool read-only by adding
the line ``# llm-code: read-only`` to its header: then it never asks, and in the sandbox the
project is mounted read-only for it. ``create_tool`` refuses code carrying that line: only the
user adds it. A tool file counts only once trusted (its content hash, as with the project's
settings file): ``create_tool`` trusts what the user approved; a file that came with the
repository, or changed since, waits for the user's "yes" (``llm code`` asks; headless runs skip it).
"""

from __future__ import annotations

import ast
import json
import keyword
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..safety.settings import is_trusted
from ..tools.files import atomic_write, unified_diff
from ..tools.sandbox import SandboxConfig
from ..tools.shell import child_environment
from .process import run_process

__all__ = [
    "UserTool",
    "UserToolError",
    "TOOLS_DIR",
    "READ_ONLY_MARK",
    "CREATE_TOOL_DESCRIPTION",
    "tool_file_text",
    "analyse_code",
    "check_name",
    "read_tool",
    "load_tools",
    "save_tool",
    "run_tool",
    "tool_files",
    "preview",
]

#: Where the tools live, relative to the project root.
TOOLS_DIR = ".llm-code/tools"
#: The header line that marks a tool read-only (the user adds it).
READ_ONLY_MARK = "# llm-code: read-only"
#: Seconds one call of a tool may run.
TOOL_TIMEOUT = 60.0
#: Characters of a tool's output kept for the model.
MAX_RESULT = 30_000

CREATE_TOOL_DESCRIPTION = (
    "Create a new tool for yourself: a Python function, saved in the project as "
    ".llm-code/tools/NAME.py once the user approves the code, then callable as NAME for the rest "
    "of this session and later ones. `code` must define `def NAME(...)` at the top level, with "
    "type-annotated parameters (str, int, float, bool, list, dict) that become the tool's "
    "arguments; it returns a string or anything JSON can encode. It runs in a separate sandboxed "
    "process with the project root as working directory (standard library only, no network). "
    "Use it for a check or transformation you will repeat; for a one-off, run a command instead."
)

_JSON_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "list": "array",
               "dict": "object", "List": "array", "Dict": "object", "Sequence": "array", "Mapping": "object"}

#: Runs in the tool's own process: load the file (no bytecode written beside it), call the
#: function with the JSON arguments from stdin, print the result; what the function prints goes
#: in front of it.
RUNNER = r"""
import contextlib, io, json, sys, traceback, types
path, name = sys.argv[1], sys.argv[2]
arguments = json.loads(sys.stdin.read() or "{}")
module = types.ModuleType("llm_code_tool_" + name)
module.__file__ = path
sys.modules[module.__name__] = module
printed = io.StringIO()
try:
    with open(path, encoding="utf-8") as f:
        source = f.read()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, path, "exec"), module.__dict__)
        result = getattr(module, name)(**arguments)
except BaseException:
    sys.stderr.write(printed.getvalue())
    traceback.print_exc(limit=-3)
    sys.exit(1)
if result is not None and not isinstance(result, str):
    result = json.dumps(result, default=str)
sys.stdout.write(printed.getvalue() + (result or ""))
"""


class UserToolError(ValueError):
    """A tool that cannot be created or loaded; the message tells the model (or user) the fix."""


@dataclass
class UserTool:
    """A tool file, read without running it."""

    name: str
    description: str
    input_schema: dict
    path: Path
    read_only: bool = False


def tools_dir(root: Path) -> Path:
    return Path(root) / TOOLS_DIR


def tool_files(root: Path) -> list[Path]:
    """The project's tool files, by name."""
    folder = tools_dir(root)
    return sorted(p for p in folder.glob("*.py") if p.is_file()) if folder.is_dir() else []


def check_name(name: Any, taken: set[str]) -> str:
    """``name`` when it can name a new tool; else :class:`UserToolError` saying why."""
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise UserToolError(
            f"the tool name {name!r} must be a Python identifier such as count_lines "
            "(letters, digits and _, not starting with a digit or _)"
        )
    if len(name) > 64:
        raise UserToolError("the tool name must be at most 64 characters")
    if name in taken or name.lower() in {t.lower() for t in taken}:
        raise UserToolError(f"a tool named {name} exists already; choose another name")
    return name


def analyse_code(name: str, code: Any) -> dict:
    """The JSON schema of the function ``name`` that ``code`` defines, read from its source.
    :class:`UserToolError` when the code does not compile or does not define it usably."""
    if not isinstance(code, str) or not code.strip():
        raise UserToolError(f"code must be Python source defining def {name}(...)")
    try:
        tree = ast.parse(code)
        compile(tree, f"{name}.py", "exec")
    except SyntaxError as ex:
        raise UserToolError(
            f"the code does not compile: {ex.msg} (line {ex.lineno}). Fix it and call create_tool again"
        ) from None
    functions = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name]
    if not functions:
        raise UserToolError(
            f"the code must define a function named {name} at the top level (def {name}(...):), "
            "the same name as the tool"
        )
    function = functions[-1]
    if isinstance(function, ast.AsyncFunctionDef):
        raise UserToolError(f"{name} must be a plain def, not async def")
    args = function.args
    if args.posonlyargs or args.vararg:
        raise UserToolError(f"{name} takes its arguments by name: remove '/' and *args from its parameters")
    properties: dict[str, dict] = {}
    required: list[str] = []
    positional_defaults = [None] * (len(args.args) - len(args.defaults)) + list(args.defaults)
    for arg, default in [*zip(args.args, positional_defaults), *zip(args.kwonlyargs, args.kw_defaults)]:
        spec: dict[str, Any] = {}
        kind = _json_type(arg.annotation)
        if kind:
            spec["type"] = kind
        if default is None:
            required.append(arg.arg)
        else:
            try:
                spec["default"] = ast.literal_eval(default)
            except ValueError:
                pass
        properties[arg.arg] = spec
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _json_type(annotation: ast.expr | None) -> str | None:
    if annotation is None:
        return None
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):  # "str"
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return None
    if isinstance(annotation, ast.Subscript):  # list[str], Dict[str, int]
        annotation = annotation.value
    if isinstance(annotation, ast.Attribute):  # typing.List
        return _JSON_TYPES.get(annotation.attr)
    if isinstance(annotation, ast.Name):
        return _JSON_TYPES.get(annotation.id)
    return None


def tool_file_text(name: str, description: str, code: str) -> str:
    """What ``.llm-code/tools/NAME.py`` holds: the header, then the code."""
    description = " ".join(str(description).split())
    return f"# llm-code tool: {name}\n# description: {description}\n{code.rstrip()}\n"


def preview(root: Path, name: str, description: str, code: str) -> str:
    """The approval preview of ``create_tool``: the diff creating (or replacing) the file."""
    path = tools_dir(root) / f"{name}.py"
    try:
        before = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        before = ""
    return unified_diff(before, tool_file_text(name, description, code), f"{TOOLS_DIR}/{name}.py")


def _header(text: str) -> tuple[str, bool]:
    """(description, read-only) from the comment lines at the top of a tool file."""
    description, read_only = "", False
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            break
        if stripped.lower().replace(" ", "") == READ_ONLY_MARK.replace(" ", ""):
            read_only = True
        match = re.match(r"#\s*description:\s*(.*)", stripped, re.IGNORECASE)
        if match:
            description = match.group(1).strip()
    return description, read_only


def read_tool(path: Path) -> UserTool:
    """The tool a file defines (named after the file); :class:`UserToolError` when it cannot be one."""
    name = path.stem
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as ex:
        raise UserToolError(f"{path.name}: cannot be read ({ex})") from None
    check_name(name, set())
    schema = analyse_code(name, text)
    description, read_only = _header(text)
    if not description:
        docstring = next(
            (ast.get_docstring(n) for n in ast.parse(text).body if isinstance(n, ast.FunctionDef) and n.name == name),
            None,
        )
        description = docstring or f"The project's tool {name} ({TOOLS_DIR}/{name}.py)."
    return UserTool(name, description, schema, path, read_only)


@dataclass
class LoadedTools:
    tools: list[UserTool]
    #: Files that are not trusted (yet): not loaded.
    untrusted: list[Path]
    #: Files that cannot be tools, with why.
    problems: list[str]


def load_tools(root: Path, taken: set[str]) -> LoadedTools:
    """The project's trusted tool files as tools (names in ``taken`` are skipped as clashes)."""
    loaded = LoadedTools([], [], [])
    for path in tool_files(root):
        if not is_trusted(path):
            loaded.untrusted.append(path)
            continue
        try:
            tool = read_tool(path)
            check_name(tool.name, taken)
        except UserToolError as ex:
            loaded.problems.append(f"{TOOLS_DIR}/{path.name}: {ex}")
            continue
        taken.add(tool.name)
        loaded.tools.append(tool)
    return loaded


def save_tool(root: Path, name: str, description: str, code: str) -> UserTool:
    """Write the tool file atomically (after the user approved it) and read it back."""
    folder = tools_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    atomic_write(path, tool_file_text(name, description, code).encode("utf-8"))
    return read_tool(path)


def run_tool(tool: UserTool, arguments: dict, *, root: Path, sandbox: SandboxConfig | None,
             timeout: float | None = None) -> str:
    """Call the tool in its own process (at most ``timeout`` seconds, default
    :data:`TOOL_TIMEOUT`); its result, or an ``Error:`` saying what went wrong."""
    timeout = timeout or TOOL_TIMEOUT
    if sandbox is not None and tool.read_only:
        sandbox = SandboxConfig(sandbox.root, network=sandbox.network, read_only=True)
    env = child_environment(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    outcome = run_process(
        [sys.executable, "-c", RUNNER, str(tool.path), tool.name], cwd=Path(root),
        stdin_text=json.dumps(arguments), timeout=timeout, sandbox=sandbox, env=env, max_output=MAX_RESULT,
    )
    if outcome.timed_out:
        return f"Error: the tool {tool.name} did not finish in {timeout:g} s and was stopped"
    if outcome.start_error:
        return f"Error: the tool {tool.name} could not start: {outcome.start_error}"
    if outcome.returncode != 0:
        detail = outcome.stderr.strip() or f"exit status {outcome.returncode}"
        return (
            f"Error: the tool {tool.name} failed:\n{detail}\nFix its code with create_tool "
            f"(same name) or edit {TOOLS_DIR}/{tool.name}.py, or do without it."
        )
    return outcome.stdout
