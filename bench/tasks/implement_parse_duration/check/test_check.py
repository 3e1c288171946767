import pytest

from durations import format_duration, parse_duration


@pytest.mark.parametrize("text,expected", [
    ("1h30m", 5400), ("45s", 45), ("2h", 7200), ("1h5m10s", 3910),
    ("90m", 5400), ("0s", 0), ("3m7s", 187),
])
def test_valid(text, expected):
    result = parse_duration(text)
    assert result == expected
    assert isinstance(result, int)


@pytest.mark.parametrize("text", ["", "abc", "10", "5x"])
def test_invalid(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_round_trip():
    for seconds in (5, 60, 3600, 3661, 5400):
        assert parse_duration(format_duration(seconds)) == seconds
