# Exercise 1, a worked solution.
# A model that knows only how often each character occurs predicts p(c) = count(c) / len(text)
# every time; on average it pays -log2 p(c) bits for the character that comes: the entropy.
import math
from collections import Counter


def unigram_bits_per_char(text):
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


unigram_bits_per_char("hello, world")
