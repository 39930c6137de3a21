"""Notebook 02's exercises: the self-check and the graded test agree on the worked solution,
the usual mistakes (each named) and a call to the kit's own answer; the references are the
kit's score; a (T, T) broadcast is caught by its memory even when its number is right."""

import math

import numpy as np
import pytest
import torch

import tbptt_kit as tk
from tbptt_kit.course.checks import core, nb02
from tests.grading_support import agreement_test, self_check, solution, stub

RIGHT_RMSE = solution("02_ex1", "benchmark_rmse_mv")
RIGHT_MEAN = solution("02_ex2", "mean_model_rmse_mv")


def broadcasting_rmse(y, y_hat, n_init=50):  # the bug of an old worked solution
    err = np.asarray(y_hat, dtype=float)[n_init:] - np.asarray(y, dtype=float)[n_init:]
    return float(np.sqrt(np.mean(err**2)) * 1000)


def std_of_error(y, y_hat, n_init=50):  # drops the error's mean: a bias goes unscored
    return float(np.std(np.ravel(y_hat)[n_init:] - np.ravel(y)[n_init:]) * 1000)


def kit_rmse(y, y_hat, n_init=50):
    pred = torch.as_tensor(np.ravel(y_hat)[n_init:].astype(np.float64))
    return 1000 * float(tk.fun_rmse(pred, torch.as_tensor(np.ravel(y)[n_init:].astype(np.float64))))


def broadcasting_mean(y_train, y_test, n_init=50):  # the right number, through a (T, T) matrix
    y_hat = np.full(len(y_test), np.mean(y_train))
    return float(np.sqrt(np.mean((y_hat[n_init:] - np.asarray(y_test)[n_init:]) ** 2)) * 1e3)


ANSWERS = [
    ("02.1", "solution", RIGHT_RMSE, "right, on all"),
    ("02.1", "stub", stub, "not done yet"),
    ("02.1", "volts", lambda y, h, n=50: RIGHT_RMSE(y, h, n) / 1000, "that is in volts"),
    ("02.1", "all-samples", lambda y, h, n=50: RIGHT_RMSE(y, h, 0), "leave out exactly the first"),
    ("02.1", "off-by-one", lambda y, h, n=50: RIGHT_RMSE(y, h, max(n - 1, 0)), "leave out exactly"),
    ("02.1", "mse", lambda y, h, n=50: (RIGHT_RMSE(y, h, n) / 1000) ** 2, "take its square root"),
    ("02.1", "std", std_of_error, "a bias is an error"),
    ("02.1", "broadcast", broadcasting_rmse, "broadcasts to a (T, T) matrix"),
    ("02.1", "kit", kit_rmse, "the kit's own answer"),
    ("02.1", "array", lambda y, h, n=50: np.full(3, RIGHT_RMSE(y, h, n)), "not an array"),
    ("02.2", "solution", RIGHT_MEAN, "right, on all"),
    ("02.2", "test-mean", lambda tr, te, n=50: RIGHT_MEAN(te, te, n), "the test output's mean"),
    (
        "02.2",
        "late-mean",
        lambda tr, te, n=50: RIGHT_MEAN(np.ravel(tr)[n:], te, n),
        "you return nan",
    ),  # its first case leaves no sample
    (
        "02.2",
        "all-samples",
        lambda tr, te, n=50: RIGHT_MEAN(tr, te, 0),
        "score only y_test[n_init:]",
    ),
    ("02.2", "broadcast", broadcasting_mean, "broadcasts to a (T, T) matrix"),
]


# a mistake averages an empty slice: numpy's RuntimeWarning is expected there
test_the_self_check_and_the_graded_test_agree_and_name_the_mistake = pytest.mark.filterwarnings(
    "ignore::RuntimeWarning"
)(agreement_test(ANSWERS))


@pytest.mark.parametrize("seed", [0, 1])
def test_the_references_are_the_kits_score(seed):
    for case in core.all_cases(nb02.BENCHMARK_RMSE, seed):
        y, y_hat = nb02.signals(case)
        n_init = 50 if case[4] is None else case[4]
        assert math.isclose(nb02.reference_rmse_mv(case), kit_rmse(y, y_hat, n_init), rel_tol=1e-9)


def tiny_learner():
    rng = np.random.default_rng(0)
    u = 0.02 * rng.standard_normal(400)
    y = np.convolve(u, [0.5, 0.3, 0.2])[:400]
    dls = tk.create_dls((u, y), (u, y), test={"multisine": (u, y)}, bs=4, win_sz=50, stp_sz=25)
    dls.units = ("mV", 1e3)
    return tk.RNNLearner(dls, "gru", hidden_size=4, seed=0, progress=False)


def test_the_notebook_check_shows_a_right_answer_beside_test_rmse(capsys):
    learn = tiny_learner()
    assert nb02.check_benchmark_rmse(RIGHT_RMSE, learn, seed=0) == "right"
    said = capsys.readouterr().out
    mine, kit = (float(x) for x in __import__("re").findall(r"(\d+\.\d+) mV", said)[:2])
    assert math.isclose(mine, kit, rel_tol=1e-3) and "learn.test_rmse() says" in said
    assert nb02.check_benchmark_rmse(broadcasting_rmse, learn, seed=0) == "wrong"
    assert "test_rmse" not in capsys.readouterr().out  # a wrong answer is not compared


def test_the_broadcast_is_caught_by_its_memory_though_its_number_is_right():
    case = nb02.MEAN_MODEL_RMSE.fixed[-1]
    args = nb02.inputs_mean_model(case)["args"]
    assert math.isclose(broadcasting_mean(*args), RIGHT_MEAN(*args), rel_tol=1e-9)
    verdict, said = self_check("02.2", broadcasting_mean)
    assert verdict == "wrong" and "broadcasts to a (T, T) matrix" in said


def test_a_notebooks_own_memory_tracing_goes_on_and_does_not_count():
    import tracemalloc

    tracemalloc.start()
    try:
        kept = [bytearray(10**7)]  # 10 MB the notebook holds while it traces
        assert self_check("02.2", RIGHT_MEAN)[0] == "right"
        assert self_check("02.2", broadcasting_mean)[0] == "wrong"
        assert tracemalloc.is_tracing() and kept
    finally:
        tracemalloc.stop()
