# Exercise 2, a worked solution.
# The model predicts one number, the training mean, for every sample; score it like any model.
import numpy as np


def mean_model_rmse_mv(y_train, y_test, n_init=50):
    y_test = np.asarray(y_test, dtype=float)
    y_hat = np.full(len(y_test), np.mean(y_train))
    return float(np.sqrt(np.mean((y_hat[n_init:] - y_test[n_init:]) ** 2)) * 1000)


y_train = dls.train.ds.y[0][:, 0].numpy()
baseline = mean_model_rmse_mv(y_train, y_ms)
print(
    f"mean model {baseline:.1f} mV, LSTM {scores['multisine']:.2f} mV: "
    f"{baseline / scores['multisine']:.0f} times better"
)
