"""Text helpers for the blog engine."""


def slugify(text):
    """Turn a title into a URL slug.

    - the result is lowercase
    - every run of characters that are not ASCII letters or digits
      becomes a single hyphen "-"
    - there are no leading or trailing hyphens

    >>> slugify("Hello, World!")
    'hello-world'
    >>> slugify("  Rock & Roll -- 2024 ")
    'rock-roll-2024'
    """
    raise NotImplementedError


def word_count(text):
    return len(text.split())
