"""An independent, step-by-step NumPy transcription of the math in docs/design.md, "The neuron" (float64).

Written without reference to the package's code, one time step at a time, so that tests can
check the vectorised torch implementation against it.
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def lif(x, theta=1.0, tau=0.25):
    T = x.shape[0]
    s = np.zeros_like(x)
    v = np.zeros_like(x)
    v_prev = np.zeros_like(x[0])
    for t in range(T):
        h = tau * v_prev + x[t]
        s[t] = (h > theta).astype(x.dtype)
        v[t] = (1.0 - s[t]) * h
        v_prev = v[t]
    return s, v


def mpe_psn(x, theta=1.0, tau=0.25, estimator="bernoulli", noise=None, refine_steps=0):
    T = x.shape[0]
    v_hat = np.zeros_like(x)
    for t in range(T):
        p = sigmoid(x[t])
        if estimator == "bernoulli":
            b = (noise[t] < p).astype(x.dtype)
            v_hat[t] = (1.0 - b) * x[t]
        else:
            v_hat[t] = (1.0 - p) * x[t]
    estimate = v_hat
    for _ in range(refine_steps + 1):
        s = np.zeros_like(x)
        v = np.zeros_like(x)
        for t in range(T):
            h = x[t] if t == 0 else tau * estimate[t - 1] + x[t]
            s[t] = (h > theta).astype(x.dtype)
            v[t] = (1.0 - s[t]) * h
        estimate = v
    return s, v_hat, v
