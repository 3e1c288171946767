"""Parse human-friendly durations."""


def parse_duration(text):
    """Parse a duration such as "1h30m", "45s", "2h" or "1h5m10s" into seconds.

    The units are h (hours), m (minutes) and s (seconds). Each unit appears at
    most once and they come in that order; every unit is preceded by a whole
    number. Returns an int.

    Raises ValueError for an empty string or any text that is not such a
    duration (for example "abc", "10" or "5x").
    """
    raise NotImplementedError


def format_duration(seconds):
    """Inverse of parse_duration for whole seconds, e.g. 5400 -> "1h30m"."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if secs or not parts:
        parts.append(f"{secs}s")
    return "".join(parts)
