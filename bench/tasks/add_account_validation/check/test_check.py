import pytest

from accounts import Account


def test_valid_operations():
    acct = Account("ann", 100)
    assert acct.deposit(50) == 150
    assert acct.withdraw(150) == 0
    assert acct.balance == 0


@pytest.mark.parametrize("amount", [0, -5, -0.01])
def test_non_positive_deposit(amount):
    acct = Account("ann", 10)
    with pytest.raises(ValueError):
        acct.deposit(amount)
    assert acct.balance == 10


@pytest.mark.parametrize("amount", [0, -1])
def test_non_positive_withdraw(amount):
    acct = Account("ann", 10)
    with pytest.raises(ValueError):
        acct.withdraw(amount)
    assert acct.balance == 10


def test_overdraw():
    acct = Account("ann", 10)
    with pytest.raises(ValueError):
        acct.withdraw(10.5)
    assert acct.balance == 10
