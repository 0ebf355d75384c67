"""The solver's loss (`scaling_solver.HuberLoss`, arranged once per law and data so that each
evaluation is a few whole-array operations) gives bit for bit what the plain term-by-term form
below gives, and so the fits, leave-one-out, bootstraps and nested comparison built on it are
unchanged. `plain_loss_grad` and `plain_polish` are the solver as it was written before
(term by term, scipy's memoised fun-and-gradient): kept here as the reference."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import minimize

from speechbudget.analysis import scaling_fit, scaling_resample
from speechbudget.analysis.scaling_identify import MIN_CI_DRAWS
from speechbudget.analysis.scaling_law import EXP_BOUNDS, Law, make_law, terms
from speechbudget.analysis.scaling_nested import compare_nested
from speechbudget.analysis.scaling_solver import HUBER_DELTA, HuberLoss, grid_starts, polish


def plain_loss_grad(theta, law, X, logy, w):
    z = terms(law, theta, X)
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    r = (m + np.log(s))[:, 0] - logy
    soft = e / s
    a = np.abs(r)
    d = HUBER_DELTA
    loss = np.where(a <= d, 0.5 * r * r, d * (a - 0.5 * d)) / d
    psi = np.clip(r, -d, d) / d * w
    grad = np.zeros_like(theta)
    for k, (sc, factors) in enumerate(law.terms):
        g = psi * soft[:, k]
        grad[sc] += g.sum()
        for ex, col, sign in factors:
            grad[ex] += (g * sign * X[:, col]).sum()
    return float((loss * w).sum()), grad


def plain_polish(law, theta0, X, logy, w=None):
    w = np.ones(len(logy)) if w is None else w
    bounds = [(None, None) if i in law.scale_idx else EXP_BOUNDS for i in range(law.n_params)]
    res = minimize(plain_loss_grad, theta0, args=(law, X, logy, w), jac=True,
                   method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": 3000, "ftol": 1e-15, "gtol": 1e-12})
    return res.x, float(res.fun)


def bits(x) -> bytes:
    return np.asarray(x, dtype=float).tobytes()


# every law make_law builds (each kind, each non-empty set of axes), and one with a parameter
# in two terms (shared exponent: its gradient adds up in term order)
LAWS = [make_law(kind, act) for kind in ("additive", "product")
        for act in itertools.product((True, False), repeat=3) if any(act)]
SHARED = Law("shared", ("E", "A", "alpha", "B"), (0, 1, 3),
             ((0, ()), (1, ((2, 0, -1),)), (3, ((2, 1, -1), (2, 2, +1)))), "shared")


@pytest.mark.parametrize("i", range(len(LAWS) + 1), ids=[lw.formula for lw in LAWS + [SHARED]])
def test_loss_and_gradient_are_bit_identical_to_the_plain_form(i):
    law = (LAWS + [SHARED])[i]
    rng = np.random.default_rng(i)
    # point counts across numpy's summation blocks (8, 128) and beyond
    for n in (1, 2, 7, 8, 9, 127, 128, 129, 300, 1001):
        X = rng.normal(0.0, 1.5, (n, 3))
        logy = rng.normal(-3.0, 1.0, n)
        for trial in range(6):
            w = rng.integers(0, 3, n).astype(float) if trial % 2 else np.ones(n)
            theta = rng.normal(0.0, 2.0, law.n_params)
            if trial == 4:      # terms far apart: some underflow to 0 in the softmax
                theta *= 200.0
            if trial == 5:      # zeros everywhere: equal terms, signed zeros
                theta = np.where(rng.random(law.n_params) < 0.5, 0.0, -0.0)
            f0, g0 = plain_loss_grad(theta, law, X, logy, w)
            f1, g1 = HuberLoss(law, X, logy, w)(theta)
            assert bits(f1) == bits(f0) and bits(g1) == bits(g0), (n, trial)


def test_non_finite_parameters_give_the_same_non_finite_loss():
    law = make_law("additive")
    rng = np.random.default_rng(3)
    X, logy, w = rng.normal(size=(20, 3)), rng.normal(size=20), np.ones(20)
    for bad in (np.inf, -np.inf, np.nan, 1e308):
        theta = rng.normal(size=law.n_params)
        theta[1] = bad
        with np.errstate(all="ignore"):
            f0, g0 = plain_loss_grad(theta, law, X, logy, w)
            f1, g1 = HuberLoss(law, X, logy, w)(theta)
        assert np.array_equal([f1], [f0], equal_nan=True)
        assert np.array_equal(g1, g0, equal_nan=True)


def synthetic(n: int, seed: int):
    rng = np.random.default_rng(seed)
    N = rng.choice([39e6, 74e6, 244e6, 769e6, 1.55e9], n)
    T = rng.choice([5.0, 10.0, 15.0, 20.0, 30.0], n)
    s = rng.choice([1, 2, 3, 4, 6], n).astype(float)
    y = (0.03 + 40 / N ** 0.4 + 0.3 / T ** 0.8 + 0.01 * s ** 1.2) \
        * np.exp(rng.normal(0.0, 0.03, n))
    return N, T, s, y


@pytest.mark.parametrize("law", LAWS, ids=lambda lw: lw.formula)
def test_polish_takes_the_same_steps_to_the_same_result(law):
    N, T, s, y = synthetic(40, seed=len(law.formula))
    Xraw = np.log(np.stack([N, T, s], axis=1))
    X = Xraw - Xraw.mean(axis=0)
    logy = np.log(y)
    rng = np.random.default_rng(5)
    for theta0 in grid_starts(law, X, y, 2):
        for w in (None, np.bincount(rng.integers(0, len(y), len(y)), minlength=len(y)) * 1.0):
            th0, f0 = plain_polish(law, theta0, X, logy, w)
            th1, f1 = polish(law, theta0, X, logy, w)
            assert bits(th1) == bits(th0) and bits(f1) == bits(f0)


@pytest.mark.parametrize("law,seed", [("additive", 11), ("product", 12)])
def test_nested_comparison_is_unchanged(law, seed, monkeypatch):
    """Everything the report takes from the fit (every candidate's parameters, leave-one-out,
    bootstrap draws and intervals, BIC, the law kept and why) with the solver as it is and as it
    was."""
    N, T, s, y = synthetic(24, seed)

    def run():
        cmp_ = compare_nested(N, T, s, y, law=law, n_bootstrap=MIN_CI_DRAWS, seed=seed)
        fits = [c.fit for c in cmp_.candidates if c.fit is not None]
        return cmp_.to_dict(), [(bits(f.theta), bits(f.loo.predictions),
                                 bits(f.bootstrap.samples), f.to_dict()) for f in fits]

    new = run()
    monkeypatch.setattr(scaling_fit, "polish", plain_polish)
    monkeypatch.setattr(scaling_resample, "polish", plain_polish)
    old = run()
    assert len(new[1]) >= 3          # several nested laws fitted, each compared
    assert repr(new) == repr(old)    # repr: floats to the last bit, nan == nan
