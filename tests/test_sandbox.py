"""Bubblewrap sandbox: writes confined to the root and a private /tmp, no network, no survivors."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from llm_coding_agent.tools import sandbox as sandbox_module
from llm_coding_agent.errors import ToolError
from llm_coding_agent.tools.sandbox import SandboxConfig, SandboxUnavailable, bwrap_problem, wrap_argv
from llm_coding_agent.tools.shell import run_command


@pytest.fixture
def bwrap():
    problem = bwrap_problem()
    if problem is not None:
        pytest.skip(problem)


@pytest.fixture
def root(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    return project


def sandboxed(command: str, root: Path, *, network: bool = False, timeout: float = 30, cwd=None):
    return run_command(
        command, cwd or root, timeout=timeout, sandbox=SandboxConfig(root, network=network)
    )


def sleepers_with(token: str) -> list[int]:
    """Pids of live ``sleep`` processes whose arguments contain ``token``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            argv = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{name}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if argv[0].endswith(b"sleep") and token.encode() in b" ".join(argv) and state != b"Z":
            found.append(int(name))
    return found


def unique_sleep() -> str:
    """A sleep duration unlikely to be used by anything else, to find the process afterwards."""
    return f"1000.{random.randrange(10**8, 10**9)}"


# --------------------------------------------------------------------------------------------------
# Policy (no bwrap needed)


def test_wrap_argv_policy(tmp_path):
    config = SandboxConfig(tmp_path)
    argv = wrap_argv(["/bin/bash", "-c", "echo hi"], config, bwrap="/usr/bin/bwrap")
    assert argv[0] == "/usr/bin/bwrap"
    assert argv[-4:] == ["--", "/bin/bash", "-c", "echo hi"]
    joined = " ".join(argv)
    assert "--ro-bind / /" in joined and "--dev /dev" in joined and "--proc /proc" in joined
    assert joined.index("--tmpfs /tmp") < joined.index(f"--bind {tmp_path} {tmp_path}")
    assert "--unshare-all" in argv and "--share-net" not in argv
    assert "--die-with-parent" in argv and "--new-session" in argv
    assert argv[argv.index("--chdir") + 1] == str(tmp_path)
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert "--share-net" in wrap_argv(["true"], SandboxConfig(tmp_path, network=True))


def test_wrap_argv_canonical_root_and_checks(tmp_path):
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    config = SandboxConfig(link)
    assert config.root == real
    argv = wrap_argv(["true"], config, chdir=link / "sub")
    assert argv[argv.index("--chdir") + 1] == str(real / "sub")
    with pytest.raises(ToolError):
        wrap_argv(["true"], config, chdir=tmp_path)
    with pytest.raises(ToolError):
        wrap_argv(["true"], SandboxConfig(Path("/")))


def test_unavailable_bwrap_raises_instead_of_running_unsandboxed(root, monkeypatch):
    monkeypatch.setattr(sandbox_module, "_PROBLEMS", {})
    monkeypatch.setattr(sandbox_module, "find_bwrap", lambda: None)
    marker = root / "ran"
    with pytest.raises(SandboxUnavailable) as info:
        sandboxed(f"touch {marker}", root)
    assert info.value.reason == "bwrap not found; install the bubblewrap package"
    assert isinstance(info.value, ToolError)
    assert not marker.exists()


def test_broken_bwrap_is_reported(root, monkeypatch):
    monkeypatch.setattr(sandbox_module, "_PROBLEMS", {})
    monkeypatch.setattr(sandbox_module, "find_bwrap", lambda: shutil.which("false"))
    problem = bwrap_problem()
    assert problem is not None and problem.startswith("bwrap cannot start here:")
    assert "\n" not in problem
    with pytest.raises(SandboxUnavailable):
        sandboxed("true", root)


# --------------------------------------------------------------------------------------------------
# Filesystem


def test_can_write_inside_root(bwrap, root):
    (root / "sub").mkdir()
    out = sandboxed("echo data > made.txt && echo more > sub/other.txt && pwd", root)
    assert out.exit_code == 0, out.text
    assert out.text == f"{root}\n"
    assert (root / "made.txt").read_text() == "data\n"
    assert (root / "sub" / "other.txt").read_text() == "more\n"


def test_package_caches_are_writable_while_home_stays_read_only(bwrap, root):
    out = sandboxed(
        'mkdir -p "$XDG_CACHE_HOME/tool" "$PIP_CACHE_DIR" "$npm_config_cache" && echo cached; '
        'python3 -m pip cache dir; touch "$HOME/.llm-code-sandbox-probe" 2>/dev/null || echo home-ro',
        root,
    )
    assert out.exit_code == 0, out.text
    assert "cached\n/tmp/.cache/pip\nhome-ro" in out.text


def test_runs_in_subdirectory_of_root(bwrap, root):
    (root / "pkg").mkdir()
    out = sandboxed("pwd && touch here", root, cwd=root / "pkg")
    assert out.text == f"{root / 'pkg'}\n"
    assert (root / "pkg" / "here").exists()


def test_cannot_write_outside_root(bwrap, root, tmp_path_factory):
    targets = [tmp_path_factory.mktemp("outside") / "escaped.txt"]
    home = Path.home() / f".llm-code-sandbox-probe-{uuid.uuid4().hex}"
    targets.append(home)
    if os.access("/var/tmp", os.W_OK):
        # A writable place outside /tmp, so the read-only bind (not the tmpfs) is what stops it.
        var_dir = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="llm-code-sandbox-"))
        targets.append(var_dir / "escaped.txt")
    else:
        var_dir = None
    try:
        for target in targets:
            out = sandboxed(f"echo pwned > '{target}'", root)
            assert out.exit_code != 0, (target, out.text)
            assert not target.exists(), target
    finally:
        if home.exists():
            home.unlink()
        if var_dir is not None:
            shutil.rmtree(var_dir)


def test_symlink_inside_root_does_not_open_a_way_out(bwrap, root):
    outside = Path(tempfile.mkdtemp(dir="/var/tmp" if os.access("/var/tmp", os.W_OK) else None))
    try:
        (root / "door").symlink_to(outside)
        out = sandboxed("echo pwned > door/escaped.txt", root)
        assert out.exit_code != 0
        assert not (outside / "escaped.txt").exists()
    finally:
        shutil.rmtree(outside)


def test_root_user_cannot_remount_writable(bwrap, root):
    if shutil.which("mount") is None:
        pytest.skip("no mount binary")
    probe = Path.home() / f".llm-code-remount-probe-{uuid.uuid4().hex}"
    try:
        out = sandboxed(f"mount -o remount,bind,rw / && echo pwned > '{probe}'", root)
        assert out.exit_code != 0, out.text
        assert not probe.exists()
    finally:
        if probe.exists():
            probe.unlink()


def test_tmp_is_private(bwrap, root):
    name = f"llm-code-private-{uuid.uuid4().hex}"
    host_file = Path("/tmp") / f"{name}-host"
    host_file.write_text("host")
    try:
        out = sandboxed(
            f"echo inside > /tmp/{name} && cat /tmp/{name} && "
            f"(test -e {host_file} && echo host-visible || echo host-hidden)",
            root,
        )
        assert out.text == "inside\nhost-hidden\n"
        tmpdir = run_command(
            'echo "$TMPDIR" && mktemp', root, timeout=30, env={"PATH": os.environ["PATH"],
            "TMPDIR": str(root.parent)}, sandbox=SandboxConfig(root),
        )
        assert tmpdir.exit_code == 0 and tmpdir.text.startswith("/tmp\n/tmp/tmp."), tmpdir.text
        assert not (Path("/tmp") / name).exists()
    finally:
        host_file.unlink()


@pytest.fixture
def tmp_venv():
    """A venv made directly under /tmp, outside any project, beside a private host file."""
    parent = Path(tempfile.mkdtemp(dir="/tmp", prefix="llm-code-venv-"))
    venv = parent / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages",
                    str(venv)], check=True, capture_output=True, timeout=60)
    (parent / "secret.txt").write_text("host only")
    yield venv
    shutil.rmtree(parent)


def test_interpreter_and_venv_under_tmp_are_shown_read_only(tmp_path, monkeypatch):
    venv = Path(tempfile.mkdtemp(dir="/tmp", prefix="llm-code-venv-"))
    try:
        monkeypatch.setenv("VIRTUAL_ENV", str(venv))
        argv = wrap_argv(["true"], SandboxConfig(tmp_path))
        bind = argv.index("--ro-bind-try")
        assert argv[bind : bind + 3] == ["--ro-bind-try", str(venv), str(venv)]
        assert argv.index("--tmpfs") < bind < argv.index("--bind")  # the root stays writable
        # A venv inside the project is the project's own: bound writable with the root.
        inside = tmp_path / ".venv"
        inside.mkdir()
        monkeypatch.setenv("VIRTUAL_ENV", str(inside))
        assert str(inside) not in wrap_argv(["true"], SandboxConfig(tmp_path))
        monkeypatch.setenv("VIRTUAL_ENV", "/tmp")  # never the whole of /tmp
        assert "/tmp" not in sandbox_module.interpreter_paths(tmp_path)
    finally:
        shutil.rmtree(venv)


def test_venv_under_tmp_runs_inside_sandbox(bwrap, root, tmp_venv, monkeypatch):
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_venv))
    out = sandboxed(
        f"{tmp_venv}/bin/python -c 'import sys; print(sys.prefix)' && touch made && "
        f"(touch {tmp_venv}/written 2>/dev/null && echo venv-writable || echo venv-read-only); "
        f"test -e {tmp_venv.parent / 'secret.txt'} && echo host-visible || echo host-hidden",
        root,
    )
    assert out.text == f"{tmp_venv}\nvenv-read-only\nhost-hidden\n", out.text
    assert out.exit_code == 0 and (root / "made").exists()
    assert not (tmp_venv / "written").exists()


def test_sandbox_tests_pass_when_run_from_a_venv_under_tmp(bwrap, tmp_venv, tmp_path):
    # The whole chain as a user meets it: pytest itself runs from the /tmp venv (sys.prefix, no
    # VIRTUAL_ENV), and the sandboxed commands start sys.executable, which lives in that venv.
    repo = Path(__file__).resolve().parents[1]
    env = {name: value for name, value in os.environ.items() if name != "VIRTUAL_ENV"}
    env["PYTHONPATH"] = str(repo)
    selected = "test_project_tests_run_inside_sandbox or test_network_when_allowed_and_unsandboxed"
    result = subprocess.run(
        [str(tmp_venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--basetemp={tmp_path / 'inner'}", str(Path(__file__)), "-k", selected],
        cwd=repo, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0 and "2 passed" in result.stdout, result.stdout + result.stderr


# --------------------------------------------------------------------------------------------------
# Network


@pytest.fixture
def local_server():
    """A TCP server on 127.0.0.1 that greets every client; yields its port."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                conn.sendall(b"hello\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    server.close()


def connect_command(port: int) -> str:
    code = (
        "import socket; s = socket.create_connection(('127.0.0.1', %d), timeout=5); "
        "print(s.recv(16).decode().strip())" % port
    )
    return f'{sys.executable} -c "{code}"'


def test_no_network_by_default(bwrap, root, local_server):
    out = sandboxed(connect_command(local_server), root)
    assert out.exit_code != 0
    assert "hello" not in out.text
    assert "Error" in out.text  # ConnectionRefusedError / OSError traceback from the client


def test_network_when_allowed_and_unsandboxed(bwrap, root, local_server):
    shared = sandboxed(connect_command(local_server), root, network=True)
    assert (shared.exit_code, shared.text) == (0, "hello\n")
    plain = run_command(connect_command(local_server), root, timeout=30)
    assert (plain.exit_code, plain.text) == (0, "hello\n")


# --------------------------------------------------------------------------------------------------
# Processes and real work


def test_project_tests_run_inside_sandbox(bwrap, root):
    (root / "mathlib.py").write_text("def add(a, b):\n    return a + b\n")
    (root / "test_mathlib.py").write_text(
        "from mathlib import add\n\n"
        "def test_add(tmp_path):\n"
        "    (tmp_path / 'scratch').write_text('ok')\n"
        "    assert add(2, 3) == 5\n"
    )
    out = sandboxed(f"{sys.executable} -m pytest -q", root, timeout=120)
    assert out.exit_code == 0, out.text
    assert "1 passed" in out.text
    assert (root / ".pytest_cache").is_dir()


def test_exit_code_and_interleaving_pass_through(bwrap, root):
    out = sandboxed("echo out; echo err >&2; exit 7", root)
    assert (out.exit_code, out.text) == (7, "out\nerr\n")


def test_daemon_is_confined(bwrap, root):
    duration = unique_sleep()
    start = time.monotonic()
    out = sandboxed(
        f"(setsid nohup sleep {duration} >/dev/null 2>&1 &); echo started", root, timeout=30
    )
    assert out.exit_code == 0 and out.text == "started\n"
    assert time.monotonic() - start < 5
    deadline = time.monotonic() + 3
    while sleepers_with(duration) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sleepers_with(duration) == [], "a daemon outlived its sandboxed command"


def test_timeout_kills_sandboxed_tree(bwrap, root):
    duration = unique_sleep()
    start = time.monotonic()
    out = sandboxed(f"echo begun; sleep {duration} & sleep {duration}", root, timeout=1)
    assert out.timed_out and out.text == "begun\n"
    assert time.monotonic() - start < 5
    deadline = time.monotonic() + 3
    while sleepers_with(duration) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sleepers_with(duration) == []
