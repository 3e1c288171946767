from shop import cart


def daily_report(orders):
    """Revenue over a list of carts."""
    return round(sum(cart.calc_total(items) for items in orders), 2)


if __name__ == "__main__":
    print(daily_report([[(2.5, 2)], [(10.0, 1), (1.0, 3)]]))
