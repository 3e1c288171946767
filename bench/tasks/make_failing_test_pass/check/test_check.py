from stats import mean, median, value_range


def test_original_suite():
    assert mean([1, 2, 3, 4]) == 2.5
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5
    assert value_range([5, 1, 9]) == 8


def test_more_medians():
    assert median([1, 2]) == 1.5
    assert median([10, 2, 38, 23, 38, 23]) == 23
    assert median([7]) == 7
    assert median([5, 1, 3, 2, 4]) == 3
