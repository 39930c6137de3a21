# Exercise 2, a worked solution.
# b bits single out one choice among 2 ** b equally likely ones: a model at b bits per
# character is, on average, as unsure as one choosing among 2 ** b characters.
def perplexity(bits_per_char):
    return 2.0**bits_per_char


perplexity(2.0)
