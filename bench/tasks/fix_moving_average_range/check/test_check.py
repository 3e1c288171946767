import pytest

from series import differences, moving_average


def test_windows():
    assert moving_average([1, 2, 3, 4], 2) == [1.5, 2.5, 3.5]
    assert moving_average([2, 4, 6], 3) == [4.0]
    assert moving_average([5, 7], 1) == [5.0, 7.0]
    assert moving_average([1, 2], 3) == []


def test_bad_window():
    with pytest.raises(ValueError):
        moving_average([1, 2, 3], 0)


def test_differences_unchanged():
    assert differences([1, 4, 9]) == [3, 5]
