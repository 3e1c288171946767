"""Stock list parsing."""


def load_stock(lines):
    """Parse lines like "apple, 3" into a dict of name -> quantity."""
    stock = {}
    for line in lines:
        name, qty = line.split(",")
        stock[name.strip()] = qty.strip()
    return stock


def total_items(stock):
    return sum(stock.values())
