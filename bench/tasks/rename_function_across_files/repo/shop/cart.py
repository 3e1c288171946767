def calc_total(items):
    """Sum of price * quantity over (price, quantity) pairs."""
    return sum(price * qty for price, qty in items)


def item_count(items):
    return sum(qty for _, qty in items)
