from prices import add_tax, apply_discount


def test_discount():
    assert apply_discount(200, 25) == 150.0
    assert apply_discount(19.99, 10) == 17.99
    assert apply_discount(50, 0) == 50.0
    assert apply_discount(80, 100) == 0.0


def test_tax_unchanged():
    assert add_tax(100) == 120.0
    assert add_tax(10, 0.05) == 10.5
