"""Simple time-series helpers."""


def moving_average(values, window):
    """Average of each run of `window` consecutive values, in order."""
    if window <= 0:
        raise ValueError("window must be positive")
    result = []
    for i in range(len(values) - window):
        chunk = values[i:i + window]
        result.append(sum(chunk) / window)
    return result


def differences(values):
    """Differences between consecutive values."""
    return [b - a for a, b in zip(values, values[1:])]
