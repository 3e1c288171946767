from greet import greet


def test_default():
    assert greet("Ann") == "Hello, Ann!"


def test_greeting():
    assert greet("Ann", greeting="Hi") == "Hi, Ann!"
    assert greet("Ann", greeting="Good morning") == "Good morning, Ann!"


def test_shout():
    assert greet("Bo", greeting="Hi", shout=True) == "HI, BO!"
    assert greet("Bo", shout=True) == "HELLO, BO!"
