"""Descriptive statistics."""


def mean(values):
    return sum(values) / len(values)


def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid]


def value_range(values):
    return max(values) - min(values)
