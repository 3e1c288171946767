"""Word frequency helpers."""


def word_frequencies(text):
    """Count how often each lowercase word occurs in text."""
    counts = {}
    for word in text.lower().split():
        counts[word] += 1
    return counts


def top_words(text, n):
    """The n most frequent words as (word, count) pairs, most frequent first;
    ties keep the order in which the words first appear."""
    counts = word_frequencies(text)
    return sorted(counts.items(), key=lambda item: -item[1])[:n]
