from shop.cart import calc_total, item_count


def checkout(items, shipping=4.5):
    """Return a receipt line for the cart."""
    total = calc_total(items) + shipping
    return f"{item_count(items)} items, total {total:.2f}"
