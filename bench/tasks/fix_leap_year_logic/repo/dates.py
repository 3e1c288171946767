"""Calendar helpers."""

DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def is_leap_year(year):
    return year % 4 == 0 and year % 100 != 0 and year % 400 == 0


def days_in_month(year, month):
    """Number of days in `month` (1-12) of `year`."""
    if month == 2 and is_leap_year(year):
        return 29
    return DAYS[month - 1]
