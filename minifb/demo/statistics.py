"""Is a difference between a few seeded runs a finding or noise? Student's t-tests, stdlib only.

With a handful of seeds the t distribution's 97.5% points are far from the normal's 1.96 (4.30
for 3 paired runs), so they are tabulated here; a fractional degree of freedom (Welch's) is
rounded down, which only makes the test stricter.
"""
from __future__ import annotations

import dataclasses
import math

# Two-sided 95% critical values of Student's t by degrees of freedom (then 1.96 for large df).
T_CRITICAL_95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
                 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042, 60: 2.000}


def t_critical(df: float) -> float:
    """The two-sided 95% point of t with ``df`` degrees of freedom (rounded down to a tabulated df)."""
    if df < 1:
        return math.inf
    usable = [d for d in T_CRITICAL_95 if d <= df]
    return T_CRITICAL_95[max(usable)] if df < 120 else 1.960


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = [float(v) for v in values]
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


@dataclasses.dataclass
class Verdict:
    """``difference`` (a - b), its t statistic and the 95% point it is judged against."""

    difference: float
    t: float
    critical: float

    @property
    def significant(self) -> bool:
        return abs(self.t) > self.critical

    def __str__(self):
        if math.isnan(self.t):
            return "one run each: no spread to judge by"
        level = f"|t| = {abs(self.t):.1f} {'>' if self.significant else '<='} {self.critical:.2f}, 95% level"
        return f"{'beyond' if self.significant else 'within'} seed noise ({level})"


def welch(a, b) -> Verdict:
    """Welch's t-test of mean(a) - mean(b) for independent runs (unequal variances)."""
    (ma, sa), (mb, sb) = mean_sd(a), mean_sd(b)
    if len(a) < 2 or len(b) < 2:
        return Verdict(ma - mb, math.nan, math.inf)
    va, vb = sa ** 2 / len(a), sb ** 2 / len(b)
    if va + vb == 0:
        return Verdict(ma - mb, 0.0 if ma == mb else math.copysign(math.inf, ma - mb),
                       t_critical(len(a) + len(b) - 2))
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return Verdict(ma - mb, (ma - mb) / math.sqrt(va + vb), t_critical(df))


def paired(a, b) -> Verdict:
    """The paired t-test of mean(a - b) (a[i] and b[i] from the same run)."""
    if len(a) != len(b):
        raise ValueError(f"paired: the two samples differ in length ({len(a)} and {len(b)})")
    differences = [x - y for x, y in zip(a, b)]
    mean, sd = mean_sd(differences)
    if len(differences) < 2:
        return Verdict(mean, math.nan, math.inf)
    if sd == 0:
        return Verdict(mean, 0.0 if mean == 0 else math.copysign(math.inf, mean), t_critical(len(a) - 1))
    return Verdict(mean, mean / (sd / math.sqrt(len(a))), t_critical(len(a) - 1))
