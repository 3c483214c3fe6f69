"""Statistics of online experiments: stable arm assignment, A/B comparison, team-draft interleaving.

Pure functions, no I/O: the service assigns arms with :func:`assign_arm`, ``omnirank ab-report``
turns its ``served`` impressions and attributed events into one row per exposure and calls
:func:`compare_arms`; ``benchmarks/bench_ab.py`` runs the same code on simulated shoppers to measure
the false-positive rate and the power instead of assuming them.

Why the analysis is at the unit level
-------------------------------------
Shoppers (the randomisation unit) are assigned to an arm, exposures are not: one shopper's searches
share their intent, patience and budget, so their clicks and purchases are correlated. Treating each
exposure as an independent Bernoulli trial (the textbook two-proportion z-test) understates the
variance and declares differences that are not there (``benchmarks/results/ab.json`` measures by how
much). Every metric here is a ratio of per-unit sums (clicks / exposures, purchases / exposures,
revenue / exposures), so its variance is taken with the delta method over units (Deng, Knoblich & Lu,
"Applying the Delta Method in Metric Analytics", KDD 2018): it keeps the estimand the analytics report
shows (clicks per exposure, not the mean of per-shopper rates, which would weigh a one-search shopper
like a hundred-search one) and is exact enough at the sample sizes where a verdict is allowed. The
exposure-level statsmodels z-test is still reported for the proportions, labelled as such, only so a
reader can see the difference; it never decides a verdict.

Three metrics are tested at once and any of them can name a winner, so the verdicts use Bonferroni-
adjusted p-values and the matching simultaneous (1 - alpha/3) intervals: the chance that an A/A test
names a winner on any metric stays at or below ``alpha``, and a verdict never disagrees with its own
interval (Holm would be marginally more powerful but has no matching intervals).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from scipy import stats

ARMS = ("A", "B")
B_BETTER = "B better"
A_BETTER = "A better"
NO_DIFFERENCE = "no significant difference"
NOT_ENOUGH_DATA = "not enough data"
MIXED = "mixed"  # overall only: significant metrics disagree (e.g. more clicks but less revenue)

METRICS: tuple[tuple[str, str, str], ...] = (
    # (name, exposure column summed per unit, label)
    ("ctr", "clicked", "click-through rate"),
    ("conversion_rate", "converted", "conversion rate"),
    ("revenue_per_exposure", "revenue", "revenue per exposure"),
)
REQUIRED_COLUMNS = ("arm", "unit", "clicked", "converted", "revenue")
_HASH_SCALE = float(1 << 64)

T = TypeVar("T", bound=Hashable)


# --- assignment -------------------------------------------------------------------------------
def assign_arm(unit: str, experiment: str, split_b: float) -> str:
    """ "A" or "B" for ``unit`` (a customer or session id) in ``experiment``.

    A keyed hash, not a random draw, so every worker and every restart gives a shopper the same arm
    without storing anything; the experiment name is part of the key so two experiments split the
    same shoppers independently. blake2b (not Python's ``hash``, which is salted per process) maps
    the pair to a uniform number u in [0, 1); the unit is in B when u < ``split_b``. Raising the split
    later only moves shoppers from A to B, never back, so a ramp-up (1% -> 10% -> 50%) keeps everyone
    who already saw B in B.
    """
    if isinstance(split_b, bool) or not isinstance(split_b, (int, float)):
        raise TypeError(f"split_b must be a number in [0, 1], got {type(split_b).__name__}")
    if not 0.0 <= float(split_b) <= 1.0:  # also rejects NaN
        raise ValueError(f"split_b must be in [0, 1], got {split_b!r}")
    digest = hashlib.blake2b(f"{experiment}\x00{unit}".encode(), digest_size=8).digest()
    u = int.from_bytes(digest, "big") / _HASH_SCALE
    return "B" if u < split_b else "A"


# --- A/B comparison ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ArmRatio:
    """One arm's ratio metric sum(y) / sum(exposures) with its delta-method variance over units."""

    value: float
    variance: float  # of ``value`` (not per unit)
    unit_variance: float  # per-unit variance of the linearised metric: variance * n_units
    n_units: int
    n_exposures: int


def ratio_over_units(y: np.ndarray, n: np.ndarray) -> ArmRatio:
    """Delta method for R = mean(y) / mean(n) over units (y: the unit's sum, n: its exposures).

    Linearising R around the means gives each unit the residual (y - R n) / mean(n); the variance of
    R is that residual's sample variance over the number of units. NaN variance with < 2 units.
    """
    y = np.asarray(y, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    units = int(y.size)
    exposures = int(n.sum())
    if units == 0 or exposures == 0:
        return ArmRatio(float("nan"), float("nan"), float("nan"), units, exposures)
    n_bar = n.mean()
    value = float(y.sum() / n.sum())
    if units < 2:
        return ArmRatio(value, float("nan"), float("nan"), units, exposures)
    residual = (y - value * n) / n_bar
    unit_variance = float(residual.var(ddof=1))
    return ArmRatio(value, unit_variance / units, unit_variance, units, exposures)


@dataclass
class MetricResult:
    """One metric of an A/B report; differences are B - A, intervals at ``ci_level``."""

    name: str
    label: str
    value_a: float
    value_b: float
    abs_diff: float
    rel_diff: float | None  # B / A - 1; None when A is 0
    ci_low: float
    ci_high: float
    rel_ci_low: float | None
    rel_ci_high: float | None
    ci_level: float
    p_value: float  # unit-level delta-method z-test, unadjusted
    p_value_adjusted: float  # Bonferroni over the report's metrics: what the verdict reads
    exposure_level_p_value: float | None  # naive statsmodels z-test (proportions only): for comparison
    n_exposures: dict[str, int]
    n_units: dict[str, int]
    verdict: str
    required_units_per_arm: int | None  # to detect a relative change of ``mde`` with ``power``
    mde_at_reached: float | None  # relative change detectable with ``power`` at the units reached


@dataclass
class ABReport:
    """Everything ``omnirank ab-report`` prints: per-metric results and the sample size reached."""

    metrics: list[MetricResult]
    verdict: str
    n_units: dict[str, int]
    n_exposures: dict[str, int]
    min_units_per_arm: int
    required_units_per_arm: int | None  # the largest over the metrics (every metric powered)
    enough_data: bool
    alpha: float
    power: float
    mde: float
    srm_p_value: float | None = None  # sample-ratio mismatch: chi-square of units vs the planned split
    method: str = field(
        default=(
            "unit-level delta method (ratio of per-unit sums), two-sided z-test, Bonferroni over "
            "metrics; exposure-level z-test shown for comparison only"
        )
    )

    def metric(self, name: str) -> MetricResult:
        return next(m for m in self.metrics if m.name == name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (NaN becomes None so strict JSON parsers accept it)."""
        return _clean(asdict(self))

    def to_markdown(self) -> str:
        """A Markdown table a person reads: per metric A, B, B - A with its interval, p, verdict."""
        level = self.metrics[0].ci_level if self.metrics else 1 - self.alpha
        lines = [
            f"| metric | A | B | B - A | relative | {level:.1%} CI (B - A) | p (adj.) | verdict |",
            "|---|---:|---:|---:|---:|---|---:|---|",
        ]
        for m in self.metrics:
            money = m.name.startswith("revenue")
            lines.append(
                "| "
                + " | ".join(
                    [
                        m.label,
                        _num(m.value_a, money),
                        _num(m.value_b, money),
                        _num(m.abs_diff, money, signed=True),
                        "-" if m.rel_diff is None else f"{m.rel_diff:+.1%}",
                        f"[{_num(m.ci_low, money, signed=True)}, {_num(m.ci_high, money, signed=True)}]",
                        _p(m.p_value_adjusted),
                        m.verdict,
                    ]
                )
                + " |"
            )
        required = "-" if self.required_units_per_arm is None else f"{self.required_units_per_arm:,}"
        lines += [
            "",
            f"**Overall: {self.verdict}.** Units A / B: {self.n_units['A']:,} / {self.n_units['B']:,} "
            f"(exposures {self.n_exposures['A']:,} / {self.n_exposures['B']:,}); minimum before a verdict "
            f"{self.min_units_per_arm:,} per arm; needed to detect a {self.mde:.0%} relative change on "
            f"every metric with {self.power:.0%} power: {required} per arm.",
        ]
        if self.srm_p_value is not None:
            lines.append(f"Sample-ratio check (units vs planned split): p = {_p(self.srm_p_value)}.")
        lines.append(f"Method: {self.method}.")
        return "\n".join(lines)


def compare_arms(
    exposures: pd.DataFrame,
    *,
    min_units_per_arm: int,
    alpha: float = 0.05,
    power: float = 0.8,
    mde: float = 0.05,
    expected_split_b: float | None = None,
) -> ABReport:
    """Compare arms A and B on click-through, conversion and revenue per exposure.

    ``exposures``: one row per served search or recommendation with ``arm`` ("A"/"B"), ``unit``
    (the id the arm was assigned by), ``clicked`` and ``converted`` (0/1) and ``revenue`` (attributed).
    Below ``min_units_per_arm`` units in either arm every verdict is "not enough data", however large
    the difference: early peeks at small samples are where false winners come from. ``mde`` (relative)
    and ``power`` only size the sample (``required_units_per_arm``); they do not change the test.
    ``expected_split_b``, when given, adds a sample-ratio-mismatch check (a broken assignment or
    logging shows up as units per arm far from the planned split).
    """
    _validate(exposures, min_units_per_arm, alpha, power, mde)
    frame = exposures[list(REQUIRED_COLUMNS)].copy()
    frame["arm"] = frame["arm"].astype(str)
    frame["unit"] = frame["unit"].astype(str)
    for column in ("clicked", "converted", "revenue"):
        frame[column] = pd.to_numeric(frame[column]).astype(np.float64)
    frame["_n"] = 1
    per_unit = frame.groupby(["arm", "unit"], sort=False, observed=True).agg(
        clicked=("clicked", "sum"),
        converted=("converted", "sum"),
        revenue=("revenue", "sum"),
        _n=("_n", "sum"),
    )
    arm_units = {
        arm: per_unit.xs(arm, level="arm") if arm in per_unit.index.levels[0] else None for arm in ARMS
    }
    n_units = {arm: 0 if u is None else len(u) for arm, u in arm_units.items()}
    n_exposures = {arm: 0 if u is None else int(u["_n"].sum()) for arm, u in arm_units.items()}
    enough = all(n >= max(min_units_per_arm, 2) for n in n_units.values())

    m = len(METRICS)
    z_ci = float(stats.norm.ppf(1 - alpha / (2 * m)))
    z_power = float(stats.norm.ppf(power))
    results: list[MetricResult] = []
    for name, column, label in METRICS:
        arms = {
            arm: ratio_over_units(
                np.zeros(0) if u is None else u[column].to_numpy(),
                np.zeros(0) if u is None else u["_n"].to_numpy(),
            )
            for arm, u in arm_units.items()
        }
        results.append(
            _metric(name, label, arms["A"], arms["B"], z_ci, z_power, alpha, m, mde, enough, frame, column)
        )

    required = [r.required_units_per_arm for r in results]
    srm = None
    if expected_split_b is not None and sum(n_units.values()) > 0:
        if not 0.0 < expected_split_b < 1.0:
            raise ValueError(f"expected_split_b must be in (0, 1), got {expected_split_b!r}")
        total = sum(n_units.values())
        srm = float(
            stats.chisquare(
                [n_units["A"], n_units["B"]], [total * (1 - expected_split_b), total * expected_split_b]
            ).pvalue
        )
    return ABReport(
        metrics=results,
        verdict=_overall(results, enough),
        n_units=n_units,
        n_exposures=n_exposures,
        min_units_per_arm=min_units_per_arm,
        required_units_per_arm=None if any(r is None for r in required) else max(required),  # type: ignore[type-var]
        enough_data=enough,
        alpha=alpha,
        power=power,
        mde=mde,
        srm_p_value=srm,
    )


def _metric(
    name: str,
    label: str,
    a: ArmRatio,
    b: ArmRatio,
    z_ci: float,
    z_power: float,
    alpha: float,
    m: int,
    mde: float,
    enough: bool,
    frame: pd.DataFrame,
    column: str,
) -> MetricResult:
    diff = b.value - a.value
    se = math.sqrt(a.variance + b.variance) if enough else float("nan")
    if not enough or math.isnan(se):
        p = float("nan")
    elif se == 0.0:  # both arms constant within themselves: any difference is certain
        p = 1.0 if diff == 0 else 0.0
    else:
        p = float(2 * stats.norm.sf(abs(diff) / se))
    p_adj = min(1.0, p * m) if not math.isnan(p) else float("nan")
    rel = b.value / a.value - 1 if a.value and not math.isnan(a.value) else None
    rel_lo = rel_hi = None
    if enough and rel is not None and b.value > 0:
        se_log = math.sqrt(a.variance / a.value**2 + b.variance / b.value**2)
        centre = math.log(b.value / a.value)
        rel_lo, rel_hi = math.exp(centre - z_ci * se_log) - 1, math.exp(centre + z_ci * se_log) - 1
    if not enough:
        verdict = NOT_ENOUGH_DATA
    elif p_adj < alpha:
        verdict = B_BETTER if diff > 0 else A_BETTER
    else:
        verdict = NO_DIFFERENCE
    required = mde_reached = None
    pooled = a.unit_variance + b.unit_variance
    if not math.isnan(pooled) and a.value and not math.isnan(a.value):
        delta = mde * abs(a.value)
        required = max(2, math.ceil((z_ci + z_power) ** 2 * pooled / delta**2))
        mde_reached = (z_ci + z_power) * math.sqrt(a.variance + b.variance) / abs(a.value)
    return MetricResult(
        name=name,
        label=label,
        value_a=a.value,
        value_b=b.value,
        abs_diff=diff,
        rel_diff=rel,
        ci_low=diff - z_ci * se,
        ci_high=diff + z_ci * se,
        rel_ci_low=rel_lo,
        rel_ci_high=rel_hi,
        ci_level=1 - alpha / m,
        p_value=p,
        p_value_adjusted=p_adj,
        exposure_level_p_value=_exposure_level_p(frame, column) if column != "revenue" else None,
        n_exposures={"A": a.n_exposures, "B": b.n_exposures},
        n_units={"A": a.n_units, "B": b.n_units},
        verdict=verdict,
        required_units_per_arm=required,
        mde_at_reached=mde_reached,
    )


def _exposure_level_p(frame: pd.DataFrame, column: str) -> float | None:
    """Two-proportion z-test treating every exposure as independent (statsmodels). Reported only to
    show how much clustering matters; it is anti-conservative when shoppers repeat searches."""
    from statsmodels.stats.proportion import proportions_ztest

    counts = frame.groupby("arm", observed=True)[column].agg(["sum", "count"])
    if not all(arm in counts.index for arm in ARMS):
        return None
    successes = np.array([counts.loc["B", "sum"], counts.loc["A", "sum"]], dtype=np.float64)
    trials = np.array([counts.loc["B", "count"], counts.loc["A", "count"]], dtype=np.float64)
    pooled = successes.sum() / trials.sum()
    if pooled in (0.0, 1.0):
        return 1.0
    return float(proportions_ztest(successes, trials)[1])


def _overall(results: Sequence[MetricResult], enough: bool) -> str:
    """A winner only when every significant metric points the same way."""
    if not enough:
        return NOT_ENOUGH_DATA
    winners = {r.verdict for r in results if r.verdict in (A_BETTER, B_BETTER)}
    if not winners:
        return NO_DIFFERENCE
    return winners.pop() if len(winners) == 1 else MIXED


def _validate(exposures: pd.DataFrame, min_units: int, alpha: float, power: float, mde: float) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in exposures.columns]
    if missing:
        raise ValueError(f"exposures lacks columns {missing}; expected {list(REQUIRED_COLUMNS)}")
    if isinstance(min_units, bool) or not isinstance(min_units, (int, np.integer)) or min_units < 0:
        raise ValueError(f"min_units_per_arm must be a non-negative integer, got {min_units!r}")
    for name, value in (("alpha", alpha), ("power", power)):
        if not 0.0 < value < 1.0:
            raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    if not mde > 0:
        raise ValueError(f"mde must be > 0, got {mde!r}")
    arms = set(exposures["arm"].astype(str).unique())
    if not arms <= set(ARMS):
        raise ValueError(f"arm must be 'A' or 'B', got {sorted(arms - set(ARMS))}")
    for column in ("clicked", "converted"):
        values = pd.to_numeric(exposures[column], errors="coerce")
        if not values.isin([0, 1]).all():
            raise ValueError(f"{column} must be 0 or 1 on every row")
    revenue = pd.to_numeric(exposures["revenue"], errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(revenue).all():
        raise ValueError("revenue must be a finite number on every row")


# --- interleaving -----------------------------------------------------------------------------
def team_draft_interleave(
    ranking_a: Sequence[T], ranking_b: Sequence[T], k: int, rng: np.random.Generator
) -> tuple[list[T], list[str]]:
    """Team-draft interleaving (Radlinski, Kurup & Joachims, CIKM 2008): one merged list of at most
    ``k`` items and the team ("A"/"B") that contributed each position.

    Like picking football teams: the team with fewer picks (a coin flip when even) adds its highest-
    ranked item not yet shown. Every shopper sees both rankers at once, so each search is a paired
    comparison and far fewer searches decide which ranker shoppers prefer than an A/B split needs.
    When one ranking has nothing new left, the other team fills the remaining positions (the paper
    stops there instead): a ranker that finds nothing for a query must not leave the shopper with an
    empty page, and the positions it could not fill are rightly credited to the one that could.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    merged: list[T] = []
    teams: list[str] = []
    shown: set[T] = set()
    pointers = {"A": 0, "B": 0}
    rankings = {"A": ranking_a, "B": ranking_b}
    picks = {"A": 0, "B": 0}

    def next_new(team: str) -> T | None:
        ranking, i = rankings[team], pointers[team]
        while i < len(ranking) and ranking[i] in shown:
            i += 1
        pointers[team] = i
        return ranking[i] if i < len(ranking) else None

    while len(merged) < k:
        has_a, has_b = next_new("A") is not None, next_new("B") is not None
        if not (has_a or has_b):
            break
        if has_a and has_b:
            a_turn = picks["A"] < picks["B"] or (picks["A"] == picks["B"] and rng.random() < 0.5)
            team = "A" if a_turn else "B"
        else:
            team = "A" if has_a else "B"
        item = next_new(team)
        assert item is not None  # checked above
        merged.append(item)
        teams.append(team)
        shown.add(item)
        picks[team] += 1
    return merged, teams


def interleaving_credit(teams: Sequence[str], clicked_positions: Sequence[int]) -> str:
    """ "A", "B" or "tie" for one interleaved impression: the team whose items got more clicks wins
    (a search without clicks is a tie, and ties carry no preference)."""
    a = sum(1 for p in clicked_positions if teams[p] == "A")
    b = sum(1 for p in clicked_positions if teams[p] == "B")
    return "A" if a > b else "B" if b > a else "tie"


@dataclass
class InterleavingReport:
    """Sign test over decisive impressions; ``delta`` is Chapelle et al.'s (wins_b - wins_a) / all."""

    wins_a: int
    wins_b: int
    ties: int
    share_b: float | None  # wins_b / (wins_a + wins_b)
    ci_low: float | None  # Clopper-Pearson interval of share_b at 1 - alpha
    ci_high: float | None
    delta: float | None
    p_value: float | None
    alpha: float
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))


def interleaving_verdict(
    wins_a: int, wins_b: int, ties: int, alpha: float = 0.05, *, min_decisive: int = 1
) -> InterleavingReport:
    """Binomial sign test of "each decisive impression is a fair coin between A and B".

    Ties (no clicks, or as many clicks on each team) say nothing about preference and are left out of
    the test but counted in ``delta``. Fewer than ``min_decisive`` decisive impressions is "not enough
    data", never a winner. Impressions of one shopper are treated as independent here: with team-draft
    every impression is a within-shopper paired comparison, so shopper-level intent cancels out of the
    A-versus-B contrast (the A/A interleaving runs in ``benchmarks/bench_ab.py`` measure the error rate).
    """
    for name, value in (("wins_a", wins_a), ("wins_b", wins_b), ("ties", ties)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    decisive = wins_a + wins_b
    total = decisive + ties
    if decisive == 0 or decisive < min_decisive:
        return InterleavingReport(
            wins_a,
            wins_b,
            ties,
            wins_b / decisive if decisive else None,
            None,
            None,
            (wins_b - wins_a) / total if total else None,
            None,
            alpha,
            NOT_ENOUGH_DATA,
        )
    test = stats.binomtest(int(wins_b), int(decisive), 0.5, alternative="two-sided")
    ci = test.proportion_ci(confidence_level=1 - alpha, method="exact")
    p = float(test.pvalue)
    verdict = NO_DIFFERENCE if p >= alpha else (B_BETTER if wins_b > wins_a else A_BETTER)
    return InterleavingReport(
        wins_a,
        wins_b,
        ties,
        wins_b / decisive,
        float(ci.low),
        float(ci.high),
        (wins_b - wins_a) / total,
        p,
        alpha,
        verdict,
    )


# --- formatting -------------------------------------------------------------------------------
def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _num(value: float, money: bool, signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return "-"
    sign = "+" if signed else ""
    return f"{value:{sign},.3f}" if money else f"{value:{sign}.4f}"


def _p(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"
