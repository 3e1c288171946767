from text_utils import slugify, word_count


def test_docstring_examples():
    assert slugify("Hello, World!") == "hello-world"
    assert slugify("  Rock & Roll -- 2024 ") == "rock-roll-2024"


def test_more():
    assert slugify("Python 3.11 Released") == "python-3-11-released"
    assert slugify("already-a-slug") == "already-a-slug"
    assert slugify("__Init__ Files") == "init-files"
    assert slugify("!!!") == ""
    assert slugify("MiXeD CaSe") == "mixed-case"


def test_word_count_unchanged():
    assert word_count("a b  c") == 3
