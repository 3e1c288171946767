from pager import page_count, paginate

ITEMS = list(range(10))


def test_first_page():
    assert paginate(ITEMS, 1, 3) == [0, 1, 2]


def test_middle_and_last_pages():
    assert paginate(ITEMS, 2, 3) == [3, 4, 5]
    assert paginate(ITEMS, 4, 3) == [9]
    assert paginate(ITEMS, 5, 3) == []
    assert paginate(list("abcdef"), 2, 2) == ["c", "d"]


def test_page_count_unchanged():
    assert page_count(ITEMS, 3) == 4
    assert page_count([], 3) == 0
