"""Minimising a scaling law's loss (Chinchilla's approach 3, Hoffmann et al. 2022).

The law's log prediction is compared with log(err) under a Huber loss (delta 1e-3, as
Chinchilla) and minimised by L-BFGS-B with the exponents bounded to EXP_BOUNDS. Starts: for a
grid of exponents the scales enter linearly, so each grid point gets its scales by non-negative
least squares (relative errors); the best few grid points start L-BFGS (`grid_starts`). Point
weights (0 = left out, k = drawn k times) serve the leave-one-out and the bootstrap. The loss
(`HuberLoss`) is evaluated many times per fit (each left-out configuration, each bootstrap draw),
so what does not depend on the parameters is arranged once per law and data.
"""
from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import minimize, nnls

from speechbudget.analysis.scaling_law import EXP_BOUNDS, Law, terms

HUBER_DELTA = 1e-3
START_GRID = (0.05, 0.15, 0.3, 0.5, 0.8, 1.2, 2.0)
N_STARTS = 6


class HuberLoss:
    """The weighted Huber loss of the log residuals and its gradient in theta, `loss(theta) ->
    (loss, gradient)`, for one law, data and weights.

    What does not depend on theta (the feature columns each exponent multiplies, with their
    signs; where each term's gradient goes) is arranged once, terms as rows, so that each of the
    solver's many evaluations is a few whole-array operations. Every number is the result of the
    same floating point operations, in the same order, as term by term (`scaling_law.terms`, a
    point's terms summed in order, one sum over the points per parameter): the solver takes the
    same steps to the same result (tests/analysis/test_scaling_solver_same.py checks it bit for
    bit against that plain form)."""

    def __init__(self, law: Law, X: np.ndarray, logy: np.ndarray, w: np.ndarray):
        self.logy, self.w = logy, w
        self.scales = np.array([[sc] for sc, _ in law.terms], dtype=np.intp)   # [terms, 1]
        # the j-th factor of every term that has one: those terms (a slice where they are
        # consecutive, as in every law of `make_law`), their exponents, signs and feature rows
        self.factors = []
        for j in range(max(len(f) for _, f in law.terms)):
            ks = [k for k, (_, f) in enumerate(law.terms) if len(f) > j]
            ex, col, sign = zip(*(law.terms[k][1][j] for k in ks))
            rows = slice(ks[0], ks[-1] + 1) if ks == list(range(ks[0], ks[-1] + 1)) else \
                np.array(ks, dtype=np.intp)
            self.factors.append((rows, np.array(ex, dtype=np.intp)[:, None],
                                 np.array(sign, dtype=float)[:, None],
                                 np.ascontiguousarray(X[:, list(col)].T)))
        # the gradient: one row per (parameter, term) pair in the order of `law.terms` (a term's
        # scale, then its exponents) with what the term's softmax weight is multiplied by: 1 for
        # the scale, sign * feature for an exponent (g * (sign * x) == (g * sign) * x exactly)
        index, rows_g, feats = [], [], []
        for k, (sc, f) in enumerate(law.terms):
            index.append(sc)
            rows_g.append(k)
            feats.append(np.ones(len(logy)))
            for ex, col, sign in f:
                index.append(ex)
                rows_g.append(k)
                feats.append(sign * X[:, col])
        self.grad_index = np.array(index, dtype=np.intp)
        self.grad_rows = np.array(rows_g, dtype=np.intp)
        self.grad_feature = np.stack(feats)

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = np.empty((len(self.scales), len(self.logy)))     # [terms, points]
        z[:] = theta[self.scales]
        for rows, ex, sign, x in self.factors:
            z[rows] += x * (sign * theta[ex])
        m = z.max(axis=0)
        e = np.exp(z - m)
        s = e[0]
        for k in range(1, len(e)):          # a point's terms added in order, as numpy does
            s = s + e[k]
        r = (m + np.log(s)) - self.logy
        soft = e / s
        a = np.abs(r)
        d = HUBER_DELTA
        loss = np.where(a <= d, 0.5 * r * r, d * (a - 0.5 * d)) / d
        # np.clip(r, -d, d), without its Python wrapper: the same values (NaN kept)
        psi = np.minimum(np.maximum(r, -d), d) / d * self.w
        g = soft[self.grad_rows]            # C-contiguous rows: each summed as a 1-D array
        g *= psi
        g *= self.grad_feature
        sums = g.sum(axis=1)
        grad = np.zeros_like(theta)
        np.add.at(grad, self.grad_index, sums)      # in order, as `grad[i] += ...` one by one
        return float((loss * self.w).sum()), grad

    def value(self, theta: np.ndarray) -> float:
        """The loss, for `minimize`'s fun; the gradient at the same point is kept for
        `gradient` (the solver asks for both at each point: computed once)."""
        self._at = theta.tobytes()
        f, self._grad = self(theta)
        return f

    def gradient(self, theta: np.ndarray) -> np.ndarray:
        """The gradient, for `minimize`'s jac (kept from `value` at the same point)."""
        if getattr(self, "_at", None) != theta.tobytes():
            self.value(theta)
        return self._grad


def _bounds(law: Law) -> list[tuple[float | None, float | None]]:
    return [(None, None) if i in law.scale_idx else EXP_BOUNDS for i in range(law.n_params)]


def polish(law: Law, theta0: np.ndarray, X: np.ndarray, logy: np.ndarray,
           w: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """L-BFGS-B from `theta0`: (theta, final loss). `w`: point weights (default all 1)."""
    w = np.ones(len(logy)) if w is None else w
    loss = HuberLoss(law, X, logy, w)
    res = minimize(loss.value, theta0, jac=loss.gradient, method="L-BFGS-B",
                   bounds=_bounds(law), options={"maxiter": 3000, "ftol": 1e-15, "gtol": 1e-12})
    return res.x, float(res.fun)


def grid_starts(law: Law, X: np.ndarray, y: np.ndarray, n_starts: int) -> list[np.ndarray]:
    """Exponent grid; scales by NNLS on relative error for each grid point; best n_starts."""
    exps = law.exp_idx
    cands = []
    for combo in itertools.product(START_GRID, repeat=len(exps)):
        theta = np.zeros(law.n_params)
        theta[list(exps)] = combo
        F = np.exp(terms(law, theta, X))  # each term with log-scale 0
        coef, _ = nnls(F / y[:, None], np.ones_like(y))
        theta[list(law.scale_idx)] = np.log(np.maximum(coef, 1e-12))
        rel = F @ coef / y - 1.0
        cands.append((float(np.abs(rel).sum()), combo, theta))
    cands.sort(key=lambda c: (c[0], c[1]))
    return [c[2] for c in cands[:n_starts]]
