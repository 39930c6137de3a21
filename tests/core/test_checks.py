"""core/checks.py: each check names the argument, the value and what is valid, and lets a
valid value through as a plain Python number."""

import math
import re

import numpy as np
import pytest

from tbptt_kit.core.checks import (
    check_int,
    check_number,
    check_sub_seq_len,
    divisors,
    nearest_divisors,
)


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint8(3)])
def test_check_int_gives_a_python_int_for_any_whole_number(value):
    got = check_int("n", value)
    assert got == 3 and type(got) is int


@pytest.mark.parametrize("value", [True, np.bool_(True), 3.0, "3", None, np.float32(3)])
def test_check_int_refuses_what_is_not_a_whole_number_with_a_type_error(value):
    with pytest.raises(
        TypeError, match=rf"^n must be an int >= 1, got {re.escape(repr(value))}\.$"
    ):
        check_int("n", value)


def test_check_int_bounds_are_inclusive_and_named():
    assert check_int("k", 1) == 1 and check_int("k", 5, maximum=5) == 5
    assert check_int("k", 0, minimum=0) == 0
    with pytest.raises(ValueError, match=r"^k must be an int >= 1, got 0\.$"):
        check_int("k", 0)
    with pytest.raises(ValueError, match=r"^k must be an int >= 1 and <= 5, got 6\.$"):
        check_int("k", 6, maximum=5)
    with pytest.raises(ValueError, match=r"^k must be an int >= 2, got 1\.$"):
        check_int("k", 1, minimum=2)


@pytest.mark.parametrize("value", [0.5, 1, np.float32(0.5), np.int64(1)])
def test_check_number_gives_a_python_float(value):
    got = check_number("lr", value, 0, 1)
    assert got == float(value) and type(got) is float


def test_check_number_ends_are_closed_unless_told_open():
    assert check_number("p", 0, 0, 1) == 0.0 and check_number("p", 1, 0, 1) == 1.0
    with pytest.raises(ValueError, match=r"^lr must be a finite number in \(0, inf\], got 0\.0"):
        check_number("lr", 0, 0, low_open=True)
    with pytest.raises(ValueError, match=r"^p must be a finite number in \[0, 1\), got 1\.0"):
        check_number("p", 1, 0, 1, high_open=True)
    with pytest.raises(ValueError, match=r"^p must be a finite number in \[0, 1\], got -0\.1"):
        check_number("p", -0.1, 0, 1)
    with pytest.raises(ValueError, match=r"^p must be a finite number in \[0, 1\], got 1\.5"):
        check_number("p", 1.5, 0, 1)
    assert check_number("p", 0.5, 0, 1, low_open=True, high_open=True) == 0.5


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_check_number_refuses_nan_and_infinity_even_without_bounds(value):
    with pytest.raises(
        ValueError, match=rf"^x must be a finite number in \[-inf, inf\], got {value}"
    ):
        check_number("x", value)


@pytest.mark.parametrize("value", [True, "0.1", None, [0.1]])
def test_check_number_refuses_what_is_not_a_number(value):
    with pytest.raises(
        TypeError, match=rf"^x must be a finite number .*got {re.escape(repr(value))}\.$"
    ):
        check_number("x", value)


@pytest.mark.parametrize("n", [1, 2, 12, 36, 97, 500, 1000])
def test_divisors_are_every_divisor_ascending(n):
    assert divisors(n) == [d for d in range(1, n + 1) if n % d == 0]


def test_nearest_divisors_are_the_ones_just_below_and_above():
    assert nearest_divisors(500, 90) == [50, 100]
    assert nearest_divisors(500, 1) == [2]  # nothing below 1
    assert nearest_divisors(500, 600) == [500]  # nothing above the window
    assert nearest_divisors(97, 50) == [1, 97]  # a prime: the two ends
    assert nearest_divisors(10**12 + 1, 7) == []  # too large to list in bounded time


def test_check_sub_seq_len_accepts_divisors_and_none():
    for k in divisors(500) + [None]:
        check_sub_seq_len(500, k)


@pytest.mark.parametrize(
    "k, says",
    [
        (
            90,
            r"^sub_seq_len=90 does not divide win_sz=500: .*Nearest valid sub_seq_len: \[50, 100\]",
        ),
        (600, r"^sub_seq_len=600 is longer than win_sz=500: .*Nearest valid sub_seq_len: \[500\]"),
    ],
)
def test_check_sub_seq_len_names_the_nearest_valid_values(k, says):
    with pytest.raises(ValueError, match=says):
        check_sub_seq_len(500, k)


def test_check_sub_seq_len_checks_the_kind_first():
    with pytest.raises(ValueError, match=r"^sub_seq_len must be an int >= 1, got 0\.$"):
        check_sub_seq_len(500, 0)
    with pytest.raises(TypeError, match=r"^sub_seq_len must be an int >= 1, got 2\.5\.$"):
        check_sub_seq_len(500, 2.5)
    with pytest.raises(ValueError, match=r"a divisor of win_sz"):  # nothing listed: too large
        check_sub_seq_len(10**12 + 1, 2)
