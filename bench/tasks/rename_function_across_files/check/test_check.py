from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_new_name_works():
    from shop.cart import compute_total
    assert compute_total([(2.0, 3), (1.5, 2)]) == 9.0


def test_old_name_gone():
    import shop.cart
    assert not hasattr(shop.cart, "calc_total")
    for path in ROOT.rglob("*.py"):
        if "_bench_check" in path.parts:
            continue
        assert "calc_total" not in path.read_text(), path


def test_callers_work():
    from shop.checkout import checkout
    from report import daily_report
    assert checkout([(2.0, 3)]) == "3 items, total 10.50"
    assert daily_report([[(2.5, 2)], [(10.0, 1), (1.0, 3)]]) == 18.0
