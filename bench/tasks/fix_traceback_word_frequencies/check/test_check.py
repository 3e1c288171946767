from wordfreq import top_words, word_frequencies


def test_frequencies():
    assert word_frequencies("a b A c b a") == {"a": 3, "b": 2, "c": 1}
    assert word_frequencies("") == {}


def test_top_words():
    assert top_words("the cat and the hat", 2) == [("the", 2), ("cat", 1)]
    assert top_words("x y z", 5) == [("x", 1), ("y", 1), ("z", 1)]
