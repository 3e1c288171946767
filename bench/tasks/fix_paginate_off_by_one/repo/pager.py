"""Split lists into pages."""


def paginate(items, page, per_page):
    """Return the items on page number `page` (pages start at 1)."""
    start = page * per_page
    end = start + per_page
    return items[start:end]


def page_count(items, per_page):
    """Number of pages needed to show all items."""
    return -(-len(items) // per_page)
