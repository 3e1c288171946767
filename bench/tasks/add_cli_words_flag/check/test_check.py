import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args, tmp_path):
    f = tmp_path / "sample.txt"
    f.write_text("one two three\nfour five\n")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "wordcount.py"), *args, str(f)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip(), str(f)


def test_default_output_unchanged(tmp_path):
    out, path = run(tmp_path=tmp_path)
    assert out == f"2 5 24 {path}"


def test_long_flag(tmp_path):
    out, path = run("--words", tmp_path=tmp_path)
    assert out == f"5 {path}"


def test_short_flag(tmp_path):
    out, path = run("-w", tmp_path=tmp_path)
    assert out == f"5 {path}"
