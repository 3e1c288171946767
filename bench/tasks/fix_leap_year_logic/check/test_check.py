from dates import days_in_month, is_leap_year


def test_leap_years():
    assert is_leap_year(2024)
    assert is_leap_year(2000)
    assert is_leap_year(1996)
    assert not is_leap_year(1900)
    assert not is_leap_year(2023)
    assert not is_leap_year(2100)


def test_days_in_month():
    assert days_in_month(2024, 2) == 29
    assert days_in_month(2023, 2) == 28
    assert days_in_month(1900, 2) == 28
    assert days_in_month(2024, 1) == 31
    assert days_in_month(2024, 4) == 30
