"""Exact upper tails of the Poisson and binomial laws, one at a time and vectorised.

:func:`poisson_upper_tail` and :func:`binomial_upper_tail` sum the probability terms
(``math.lgamma`` for the first one); :func:`log_factorials` and :func:`tail_sum` do the same
over numpy arrays for :func:`~aftersales.insights.detect_many`, with a table of
log-factorials or Stirling's series in place of ``lgamma``. Re-exported from
:mod:`aftersales.insights.risk`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from numpy.typing import NDArray

_TAIL_EPSILON = 1e-17


def _sum_terms(first: float, ratio_of: Any, stop: int) -> float:
    """``first + first*ratio_of(0) + first*ratio_of(0)*ratio_of(1) + ...`` for at most
    ``stop`` further terms, until a term no longer changes the total."""
    total = term = first
    for step in range(stop):
        term *= ratio_of(step)
        total += term
        if term <= total * _TAIL_EPSILON:
            break
    return total


def poisson_upper_tail(observed: int, mean: float) -> float:
    """``P(X >= observed)`` for ``X ~ Poisson(mean)``, exact to about 1e-15 relative.

    >>> round(poisson_upper_tail(5, 1.0), 10)  # 1 - e**-1 * (1 + 1 + 1/2 + 1/6 + 1/24)
    0.0036598468
    """
    if observed <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    log_mean = math.log(mean)
    if observed > mean:  # terms fall from the first: sum the tail itself
        first = math.exp(observed * log_mean - mean - math.lgamma(observed + 1))
        return min(1.0, _sum_terms(first, lambda j: mean / (observed + 1 + j), 1 << 30))
    # the tail holds most of the mass: sum the terms below it, falling from observed - 1
    top = observed - 1
    first = math.exp(top * log_mean - mean - math.lgamma(top + 1))
    below = _sum_terms(first, lambda j: (top - j) / mean, top)
    return max(0.0, 1.0 - below)


def binomial_upper_tail(observed: int, trials: int, probability: float) -> float:
    """``P(X >= observed)`` for ``X ~ Binomial(trials, probability)``, exact to about
    1e-15 relative.

    >>> round(binomial_upper_tail(3, 10, 0.1), 10)
    0.0701908264
    """
    if observed <= 0:
        return 1.0
    if observed > trials or probability <= 0:
        return 0.0
    if probability >= 1:
        return 1.0
    log_p, log_q = math.log(probability), math.log1p(-probability)
    odds = probability / (1 - probability)
    log_choose = math.lgamma(trials + 1)

    def log_term(k: int) -> float:
        return (
            log_choose
            - math.lgamma(k + 1)
            - math.lgamma(trials - k + 1)
            + k * log_p
            + (trials - k) * log_q
        )

    if observed > trials * probability:
        first = math.exp(log_term(observed))
        ratio = lambda j: (trials - observed - j) / (observed + 1 + j) * odds  # noqa: E731
        return min(1.0, _sum_terms(first, ratio, trials - observed))
    top = observed - 1
    first = math.exp(log_term(top))
    below = _sum_terms(first, lambda j: (top - j) / (trials - top + 1 + j) / odds, top)
    return max(0.0, 1.0 - below)


_SMALL_LOG_FACTORIALS = [math.lgamma(k + 1) for k in range(32)]
_HALF_LOG_TAU = 0.5 * math.log(2 * math.pi)


def _log_factorial(np: Any, n: NDArray[Any]) -> NDArray[Any]:
    """``lgamma(n + 1)`` of whole numbers: a table below 32, Stirling's series above
    (error below 1e-15 there)."""
    small = n < 32
    big = np.where(small, 32.0, n)
    inverse = 1.0 / big
    inverse2 = inverse * inverse
    series = inverse * (
        1 / 12 - inverse2 * (1 / 360 - inverse2 * (1 / 1260 - inverse2 * (1 / 1680)))
    )
    log_big = np.log(big)
    stirling = (big + 0.5) * log_big - big + _HALF_LOG_TAU + series
    table = np.asarray(_SMALL_LOG_FACTORIALS)
    return np.where(small, table[np.where(small, n, 0).astype(np.int64)], stirling)  # type: ignore[no-any-return]


def log_factorials(np: Any, *values: NDArray[Any], table_limit: int) -> list[NDArray[Any]]:
    """:func:`_log_factorial` of each array: looked up in a table when the largest value
    is below ``table_limit``, Stirling's series otherwise."""
    largest = max((int(each.max()) for each in values if each.size), default=0)
    if largest >= table_limit:
        return [_log_factorial(np, each) for each in values]
    table = _log_factorial(np, np.arange(largest + 1, dtype=np.float64))
    return [table[each.astype(np.intp)] for each in values]


def tail_sum(np: Any, first: NDArray[Any], ratio_of: Any) -> NDArray[Any]:
    """Vectorised :func:`_sum_terms`: sums until every entry has converged."""
    total: NDArray[Any] = first.copy()
    term = first.copy()
    active = np.arange(first.size)
    step = 0
    while active.size:
        term[active] *= ratio_of(active, step)
        total[active] += term[active]
        active = active[term[active] > total[active] * _TAIL_EPSILON]
        step += 1
    return total
