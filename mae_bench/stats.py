"""The statistics behind the tables, without scipy: Welch's t-test over seeds (is a difference beyond the seed
noise?) and the rank correlations of the ranking agreement (Kendall's tau-b, Spearman's rho).

Welch's test compares two cells from their mean, sample std (ddof 1) and number of seeds alone:
t = (m1 - m2) / sqrt(s1²/n1 + s2²/n2) with the Welch-Satterthwaite degrees of freedom, and the two-sided p-value
from Student's t distribution, P(|T| >= |t|) = I_{df / (df + t²)}(df / 2, 1 / 2), where I is the regularized
incomplete beta function (Abramowitz & Stegun 26.7.1), evaluated by its continued fraction (A&S 26.5.8).
"""
from __future__ import annotations

import math

ALPHA = 0.05  # two-sided significance threshold of the tables
_EPS, _TINY = 1e-15, 1e-300


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (A&S 26.5.8) by the modified Lentz method; converges fast for
    x < (a + 1) / (a + b + 2)."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    f = d
    for m in range(1, 1000):
        even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        for coef in (even, odd):
            d, c = 1.0 + coef * d, 1.0 + coef / c
            d, c = 1.0 / (d if abs(d) > _TINY else _TINY), (c if abs(c) > _TINY else _TINY)
            f *= d * c
        if abs(d * c - 1.0) < _EPS:
            return f
    raise ArithmeticError(f"incomplete beta: no convergence for a={a}, b={b}, x={x}")


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if not (a > 0 and b > 0 and 0.0 <= x <= 1.0):
        raise ValueError(f"betainc needs a, b > 0 and 0 <= x <= 1, got a={a}, b={b}, x={x}")
    if x in (0.0, 1.0):
        return x
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b  # I_x(a, b) = 1 - I_{1-x}(b, a)


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t distribution with ``df`` (> 0, not necessarily whole) degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def welch_test(mean1: float, std1: float, n1: int, mean2: float, std2: float, n2: int) -> tuple[float, float, float]:
    """Welch's t-test of two cells given as (mean, sample std, seeds): (t, df, two-sided p). Each side needs n >= 2
    (else ValueError). Two cells without any spread (std 0 on both sides) that differ are different on every seed:
    t = ±inf and p = 0; equal ones give t = 0 and p = 1."""
    if n1 < 2 or n2 < 2:
        raise ValueError(f"Welch's t-test needs at least 2 seeds on each side, got n={n1} and n={n2}")
    v1, v2 = std1 * std1 / n1, std2 * std2 / n2
    diff = mean1 - mean2
    if v1 + v2 == 0.0:
        return (0.0 if diff == 0 else math.copysign(math.inf, diff)), float("nan"), (1.0 if diff == 0 else 0.0)
    t = diff / math.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1))
    return t, df, t_two_sided_p(t, df)


def kendall_tau(x: list[float], y: list[float]) -> float:
    """Kendall's tau-b (ties in either ranking corrected for, as scipy.stats.kendalltau); NaN when one side is
    constant."""
    n, concordant, discordant, ties_x, ties_y = len(x), 0, 0, 0, 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = (x[i] > x[j]) - (x[i] < x[j]), (y[i] > y[j]) - (y[i] < y[j])
            ties_x += dx == 0
            ties_y += dy == 0
            concordant += dx * dy > 0
            discordant += dx * dy < 0
    pairs = n * (n - 1) / 2
    denom = math.sqrt((pairs - ties_x) * (pairs - ties_y))
    return (concordant - discordant) / denom if denom else float("nan")


def spearman_rho(x: list[float], y: list[float]) -> float:
    """Spearman's rho: Pearson correlation of the average ranks; NaN when one side is constant."""
    import pandas as pd

    rx, ry = pd.Series(x, dtype=float).rank(), pd.Series(y, dtype=float).rank()
    denom = math.sqrt(((rx - rx.mean()) ** 2).sum() * ((ry - ry.mean()) ** 2).sum())
    return float(((rx - rx.mean()) * (ry - ry.mean())).sum() / denom) if denom else float("nan")
