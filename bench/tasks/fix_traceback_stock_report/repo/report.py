import sys

from inventory import load_stock, total_items


def main(path):
    with open(path, encoding="utf-8") as f:
        stock = load_stock(f.read().splitlines())
    print(f"{len(stock)} products, {total_items(stock)} items in stock")


if __name__ == "__main__":
    main(sys.argv[1])
