"""Turn exam scores (0-100) into letter grades."""


def grade(score):
    if score > 90:
        return "A"
    if score > 80:
        return "B"
    if score > 70:
        return "C"
    if score > 60:
        return "D"
    return "F"


def report(scores):
    """Map each student name to a letter grade."""
    return {name: grade(score) for name, score in scores.items()}
