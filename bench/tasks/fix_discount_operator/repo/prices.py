"""Small price helpers for the shop."""


def apply_discount(price, percent):
    """Return price reduced by percent (0-100), rounded to 2 decimals."""
    return round(price * (1 + percent / 100), 2)


def add_tax(price, rate=0.2):
    """Return price plus tax at the given rate, rounded to 2 decimals."""
    return round(price * (1 + rate), 2)
