import subprocess
import sys
from pathlib import Path

from inventory import load_stock, total_items

ROOT = Path(__file__).resolve().parent.parent


def test_quantities_are_numbers():
    stock = load_stock(["apple, 3", "pear,10"])
    assert {name: int(qty) for name, qty in stock.items()} == {"apple": 3, "pear": 10}
    assert total_items(stock) == 13


def test_report_runs(tmp_path):
    f = tmp_path / "s.txt"
    f.write_text("a, 1\nb, 2\nc, 39\n")
    proc = subprocess.run([sys.executable, str(ROOT / "report.py"), str(f)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "3 products, 42 items in stock" in proc.stdout
