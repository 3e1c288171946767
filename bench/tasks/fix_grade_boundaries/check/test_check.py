from grades import grade, report


def test_boundaries():
    assert grade(90) == "A"
    assert grade(80) == "B"
    assert grade(70) == "C"
    assert grade(60) == "D"


def test_inside_ranges():
    assert grade(100) == "A"
    assert grade(89.5) == "B"
    assert grade(75) == "C"
    assert grade(61) == "D"
    assert grade(59) == "F"
    assert grade(0) == "F"


def test_report():
    assert report({"ann": 90, "bob": 59}) == {"ann": "A", "bob": "F"}
