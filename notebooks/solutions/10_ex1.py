# Exercise 1, a worked solution.
# c(age) = P(L = age) / P(L >= age): the chance of a cut `age` steps after the last, given
# none came before. The compensation on an uncut boundary is 1 / (1 - c(age)), which is
# P(L >= age) / P(L > age): one over the chance of going on.


def compensation_factors(probs, n):
    factors, alive = [], 1.0  # alive: P(L >= age)
    for age in range(1, n + 1):
        cut = probs[age - 1] / alive
        factors.append(1 / (1 - cut))
        alive -= probs[age - 1]
    return factors


compensation_factors((0.5, 0.25, 0.25), 2)
