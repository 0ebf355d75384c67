"""Minimising a scaling law's loss (Chinchilla's approach 3, Hoffmann et al. 2022).

The law's log prediction is compared with log(err) under a Huber loss (delta 1e-3, as
Chinchilla) and minimised by L-BFGS-B with the exponents bounded to EXP_BOUNDS. Starts: for a
grid of exponents the scales enter linearly, so each grid point gets its scales by non-negative
least squares (relative errors); the best few grid points start L-BFGS (`grid_starts`). Point
weights (0 = left out, k = drawn k times) serve the leave-one-out and the bootstrap.
"""
from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import minimize, nnls

from speechbudget.analysis.scaling_law import EXP_BOUNDS, Law, terms

HUBER_DELTA = 1e-3
START_GRID = (0.05, 0.15, 0.3, 0.5, 0.8, 1.2, 2.0)
N_STARTS = 6


def loss_grad(theta: np.ndarray, law: Law, X: np.ndarray, logy: np.ndarray,
              w: np.ndarray) -> tuple[float, np.ndarray]:
    """The weighted Huber loss of the log residuals and its gradient in theta."""
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


def _bounds(law: Law) -> list[tuple[float | None, float | None]]:
    return [(None, None) if i in law.scale_idx else EXP_BOUNDS for i in range(law.n_params)]


def polish(law: Law, theta0: np.ndarray, X: np.ndarray, logy: np.ndarray,
           w: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """L-BFGS-B from `theta0`: (theta, final loss). `w`: point weights (default all 1)."""
    w = np.ones(len(logy)) if w is None else w
    res = minimize(loss_grad, theta0, args=(law, X, logy, w), jac=True, method="L-BFGS-B",
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
