"""A/B tests and interleaving on simulated shoppers: is the worse ranker caught, and how often does an
A/A test cry wolf?

The rankings are real: arm A is the trained sample bundle's search as served (``SearchEngine.search``
with the bundle's default merchandising rules, top 10), arm B a deliberately worse ranker: BM25-only
(``BM25Index.search``, top 10: the retriever the hybrid engine and its learned ranker replaced), and,
as a subtler change, A's own top 10 in reverse order (``WORSE``). All are computed once per labelled
query (data_samples/queries.parquet, 390 queries) and judged with the
sample's graded judgments (exact 1, partial 0.5, unjudged 0).

The shoppers are simulated, cheaply, in numpy:

* a shopper issues as many searches as one of the logged shoppers did (data_samples/events.jsonl.gz:
  searches per identified shopper; an anonymous session is one shopper), each a labelled query drawn
  uniformly;
* clicks follow a position-biased cascade (dependent click model): the shopper reads the list top
  down, clicks a result with probability ``attract(gain) * engagement``, after a click stops with
  probability ``STOP_AFTER_CLICK``, otherwise reads on with probability ``PATIENCE``;
* a click converts with probability ``convert(gain) * intent`` (rising with the gain); revenue is the
  product's price;
* ``engagement`` and ``intent`` are per shopper (gamma, mean 1), so one shopper's searches are
  correlated as real ones are: the reason ``models.abtest`` analyses units, not exposures.

Each repetition assigns fresh shoppers to arms with ``assign_arm`` (its own experiment name) and
analyses them with ``compare_arms`` exactly as ``omnirank ab-report`` does. Figures:

* A/B power: the share of repetitions in which the worse arm is found worse, per sample size;
* A/A: both arms serve A; the share of repetitions reporting no difference, measured (>= 95% asked);
* baseline, measured in the same run: the textbook exposure-level two-proportion z-test (statsmodels)
  on the same A/A data, and the offline NDCG@10 of both arms;
* interleaving (team-draft, A vs B and A vs A): power and false-positive rate at far fewer shoppers.

Run: ``.venv/bin/python benchmarks/bench_ab.py`` (a trained bundle under /tmp/b2, or ``--bundles``;
``--train`` trains one on the sample into /tmp/abb when none is given or found).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # a shared 2-core machine: numpy work stays on one core
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, console, machine_info, print_table, timed, write_result  # noqa: E402

from models.abtest import (  # noqa: E402
    A_BETTER,
    B_BETTER,
    NO_DIFFERENCE,
    assign_arm,
    compare_arms,
    interleaving_verdict,
    team_draft_interleave,
)
from models.metrics import ndcg_at_k  # noqa: E402

K = 10  # results shown per search
ATTRACT_BASE, ATTRACT_GAIN = 0.04, 0.55  # P(click | examined) = (0.04 + 0.55 gain) * engagement
CONVERT_BASE, CONVERT_GAIN = 0.02, 0.20  # P(purchase | click) = (0.02 + 0.20 gain) * intent
PATIENCE = 0.85  # P(read the next result | no click here)
STOP_AFTER_CLICK = 0.6  # P(stop | clicked): satisfied
SHOPPER_SHAPE = 4.0  # gamma shape of engagement and intent (mean 1, coefficient of variation 0.5)
INTERLEAVINGS_PER_QUERY = 32  # team-draft coin flips: at most 2^5 distinct lists at k = 10


# --- inputs -----------------------------------------------------------------------------------
def find_bundle(args: argparse.Namespace) -> Path:
    """The bundles directory to use: --bundles, else /tmp/b2, else train one on the sample."""
    from models.config import Settings

    for candidate in [args.bundles, Path("/tmp/b2")]:
        if candidate is not None and (Path(candidate) / "latest").exists():
            return Path(candidate)
    if not args.train:
        raise SystemExit("no trained bundle (/tmp/b2/latest): pass --bundles DIR or --train")
    from training.pipeline import train

    out = Path("/tmp/abb")
    if not (out / "latest").exists():
        train(args.data, out, Settings(), evaluate=False)
    return out


def searches_per_shopper(events: Path) -> np.ndarray:
    """Searches per shopper in the logs: per e-mail for identified shoppers, 1 per anonymous session."""
    per: Counter[str] = Counter()
    with gzip.open(events, "rt", encoding="utf-8") as fh:
        for line in fh:
            if '"search"' not in line:
                continue
            e = json.loads(line)
            if e.get("type") != "search":
                continue
            who = (e.get("email") or "").strip().lower() or e.get("customer_id") or f"s:{e.get('session_id')}"
            per[str(who)] += 1
    return np.array(sorted(per.values()), dtype=np.int64)


def logged_click_rate(events: Path) -> float:
    """Share of logged searches followed by a click in the same session (for comparison only)."""
    searches, clicked = set(), set()
    with gzip.open(events, "rt", encoding="utf-8") as fh:
        for line in fh:
            if '"search' not in line:
                continue
            e = json.loads(line)
            key = (e.get("session_id"), e.get("query"))
            if e.get("type") == "search":
                searches.add(key)
            elif e.get("type") == "search_click":
                clicked.add(key)
    return len(searches & clicked) / max(1, len(searches))


@dataclass
class Arms:
    """Gain and price of every shown position, per arm and labelled query: (queries, K)."""

    queries: list[str]
    rankings: dict[str, list[list[str]]]
    gains: dict[str, np.ndarray]
    prices: dict[str, np.ndarray]
    ndcg: dict[str, float]


WORSE = {
    "bm25": "BM25-only (BM25Index.search top 10): the retriever the hybrid engine replaced",
    "reversed": "arm A's own top 10 in reverse order: the same products, worse order (a subtle change)",
}


def arm_rankings(bundles: Path, data: Path) -> Arms:
    """Arm "A": the bundle's served search (default rules) top 10; the worse rankers of ``WORSE``."""
    from models import artifacts as A
    from models.bundle import resolve_bundle_path
    from models.config import Settings
    from models.rules import RuleSet
    from service.state import BundleView

    bundle = resolve_bundle_path(bundles)
    view = BundleView.load(Settings(bundles_dir=bundles), bundle)
    engine = view.search
    if (bundle / A.RULES).exists():
        engine = replace(engine, rules=RuleSet.from_json(bundle / A.RULES))
    skus = view.catalog.products["sku"].to_numpy()
    price_of = dict(zip(skus, view.catalog.products["price"].astype(float), strict=True))
    queries = pd.read_parquet(data / "queries.parquet")
    judgments = pd.read_parquet(data / "judgments.parquet")
    gains = {
        qid: dict(zip(g["sku"], g["gain"].astype(float), strict=True))
        for qid, g in judgments.groupby("query_id")
    }
    rankings: dict[str, list[list[str]]] = {"A": [], "bm25": [], "reversed": []}
    for q in queries["query"]:
        served = [str(skus[h.item]) for h in engine.search(q, k=K).hits]
        rankings["A"].append(served)
        rankings["bm25"].append([str(s) for s in engine.bm25.search(q, k=K)[0]])
        rankings["reversed"].append(served[::-1])
    out_gains, out_prices, ndcg = {}, {}, {}
    for arm, lists in rankings.items():
        g = np.zeros((len(lists), K))
        p = np.zeros((len(lists), K))
        for i, (qid, ranked) in enumerate(zip(queries["query_id"], lists, strict=True)):
            for j, sku in enumerate(ranked[:K]):
                g[i, j] = gains.get(qid, {}).get(sku, 0.0)
                p[i, j] = price_of[sku]
        out_gains[arm], out_prices[arm] = g, p
        ndcg[arm] = float(
            np.mean(
                [
                    ndcg_at_k(r, gains.get(qid, {}), K)
                    for qid, r in zip(queries["query_id"], lists, strict=True)
                ]
            )
        )
    return Arms(queries["query"].tolist(), rankings, out_gains, out_prices, ndcg)


# --- simulation -------------------------------------------------------------------------------
def cascade(
    gains: np.ndarray,
    prices: np.ndarray,
    shown: np.ndarray,
    engagement: np.ndarray,
    intent: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clicks, purchases and revenue per position for M searches ((M, K) arrays; ``shown`` marks the
    positions holding a result). One pass per position, vectorised over the searches."""
    m = gains.shape[0]
    attract = np.clip((ATTRACT_BASE + ATTRACT_GAIN * gains) * engagement[:, None], 0.0, 1.0) * shown
    convert = np.clip((CONVERT_BASE + CONVERT_GAIN * gains) * intent[:, None], 0.0, 1.0)
    u_click, u_next, u_buy = rng.random((3, m, K))
    clicks = np.zeros((m, K), dtype=bool)
    reading = np.ones(m, dtype=bool)
    for j in range(K):
        clicks[:, j] = reading & (u_click[:, j] < attract[:, j])
        go_on = np.where(clicks[:, j], u_next[:, j] >= STOP_AFTER_CLICK, u_next[:, j] < PATIENCE)
        reading &= go_on & shown[:, j]
    buys = clicks & (u_buy < convert)
    return clicks, buys, np.where(buys, prices, 0.0)


@dataclass
class Shoppers:
    unit: np.ndarray  # exposure -> shopper index
    query: np.ndarray  # exposure -> labelled query index
    engagement: np.ndarray  # per exposure (the shopper's)
    intent: np.ndarray


def draw_shoppers(n: int, searches: np.ndarray, n_queries: int, rng: np.random.Generator) -> Shoppers:
    per = rng.choice(searches, size=n)
    unit = np.repeat(np.arange(n), per)
    engagement = rng.gamma(SHOPPER_SHAPE, 1 / SHOPPER_SHAPE, size=n)
    intent = rng.gamma(SHOPPER_SHAPE, 1 / SHOPPER_SHAPE, size=n)
    return Shoppers(unit, rng.integers(0, n_queries, size=unit.size), engagement[unit], intent[unit])


def ab_once(
    arms: Arms,
    served: dict[str, str],
    n_units: int,
    searches: np.ndarray,
    seed: int,
    min_units: int,
) -> tuple[Any, float | None, dict[str, float]]:
    """One experiment: ``n_units`` shoppers split 50/50 by ``assign_arm``; ``served`` maps each arm to
    the ranking it shows ("A"/"B"). Returns the report, the exposure-level z-test p of the CTR, and
    the simulated click-through and conversion rates."""
    rng = np.random.default_rng(seed)
    s = draw_shoppers(n_units, searches, len(arms.queries), rng)
    experiment = f"bench-ab-{seed}"
    arm_of_unit = np.array([assign_arm(f"shopper-{i}", experiment, 0.5) for i in range(n_units)])
    arm = arm_of_unit[s.unit]
    in_b = arm == "B"
    gains = np.where(in_b[:, None], arms.gains[served["B"]][s.query], arms.gains[served["A"]][s.query])
    prices = np.where(in_b[:, None], arms.prices[served["B"]][s.query], arms.prices[served["A"]][s.query])
    shown_a = np.array([len(r) for r in arms.rankings[served["A"]]])[s.query]
    shown_b = np.array([len(r) for r in arms.rankings[served["B"]]])[s.query]
    shown = np.arange(K)[None, :] < np.where(in_b, shown_b, shown_a)[:, None]
    clicks, buys, revenue = cascade(gains, prices, shown, s.engagement, s.intent, rng)
    frame = pd.DataFrame(
        {
            "arm": arm,
            "unit": s.unit,
            "clicked": clicks.any(axis=1).astype(np.int8),
            "converted": buys.any(axis=1).astype(np.int8),
            "revenue": revenue.sum(axis=1),
        }
    )
    report = compare_arms(frame, min_units_per_arm=min_units, expected_split_b=0.5)
    rates = {"ctr": float(frame["clicked"].mean()), "conversion": float(frame["converted"].mean())}
    return report, report.metric("ctr").exposure_level_p_value, rates


def interleavings(arms: Arms, first: str, second: str, seed: int) -> tuple[np.ndarray, ...]:
    """For every query, ``INTERLEAVINGS_PER_QUERY`` team-draft lists of ranking ``first`` (team A)
    and ``second`` (team B): gains, prices, shown mask and team (True = B), each (Q, I, K)."""
    rng = np.random.default_rng(seed)
    sku_gain = [
        dict(zip(arms.rankings[first][q], arms.gains[first][q], strict=False))
        | dict(zip(arms.rankings[second][q], arms.gains[second][q], strict=False))
        for q in range(len(arms.queries))
    ]
    sku_price = [
        dict(zip(arms.rankings[first][q], arms.prices[first][q], strict=False))
        | dict(zip(arms.rankings[second][q], arms.prices[second][q], strict=False))
        for q in range(len(arms.queries))
    ]
    shape = (len(arms.queries), INTERLEAVINGS_PER_QUERY, K)
    gains, prices = np.zeros(shape), np.zeros(shape)
    shown, team_b = np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool)
    for q in range(len(arms.queries)):
        for i in range(INTERLEAVINGS_PER_QUERY):
            merged, teams = team_draft_interleave(arms.rankings[first][q], arms.rankings[second][q], K, rng)
            n = len(merged)
            gains[q, i, :n] = [sku_gain[q][s] for s in merged]
            prices[q, i, :n] = [sku_price[q][s] for s in merged]
            shown[q, i, :n] = True
            team_b[q, i, :n] = [t == "B" for t in teams]
    return gains, prices, shown, team_b


def interleave_once(
    lists: tuple[np.ndarray, ...], n_units: int, searches: np.ndarray, seed: int, min_decisive: int
) -> Any:
    """One interleaving experiment over ``n_units`` shoppers (every one sees both rankers)."""
    gains, prices, shown, team_b = lists
    rng = np.random.default_rng(seed)
    s = draw_shoppers(n_units, searches, gains.shape[0], rng)
    variant = rng.integers(0, gains.shape[1], size=s.query.size)
    clicks, _, _ = cascade(
        gains[s.query, variant],
        prices[s.query, variant],
        shown[s.query, variant],
        s.engagement,
        s.intent,
        rng,
    )
    tb = team_b[s.query, variant]
    b = (clicks & tb).sum(axis=1)
    a = (clicks & ~tb).sum(axis=1)
    return interleaving_verdict(
        int((a > b).sum()), int((b > a).sum()), int((a == b).sum()), min_decisive=min_decisive
    )


# --- the runs ---------------------------------------------------------------------------------
def power_curve(
    arms: Arms, worse: str, sizes: list[int], reps: int, searches: np.ndarray, min_units: int, seed0: int
) -> list[dict[str, Any]]:
    """A (served) vs B (the ``worse`` ranker): how often each sample size names the right winner (A)."""
    rows = []
    for n in sizes:
        counts: Counter[str] = Counter()
        per_metric: Counter[str] = Counter()
        required, t = [], time.perf_counter()
        for r in range(reps):
            report, _, _ = ab_once(
                arms, {"A": "A", "B": worse}, n, searches, seed0 + 100_000 * n + r, min_units
            )
            counts[report.verdict] += 1
            for m in report.metrics:
                per_metric[m.name] += m.verdict == A_BETTER
            if report.required_units_per_arm is not None:
                required.append(report.required_units_per_arm)
        rows.append(
            {
                "units_total": n,
                "reps": reps,
                "power_overall": counts[A_BETTER] / reps,
                "wrong_winner": counts[B_BETTER] / reps,
                "mixed": counts["mixed"] / reps,
                **{f"power_{k}": v / reps for k, v in per_metric.items()},
                "median_required_units_per_arm_5pct_mde": float(np.median(required)) if required else None,
                "seconds": round(time.perf_counter() - t, 1),
            }
        )
        console.print(f"  A/B {worse} n={n:,}: {rows[-1]}")
    return rows


def aa_run(
    arms: Arms, n: int, reps: int, searches: np.ndarray, min_units: int, seed0: int, alpha: float
) -> dict[str, Any]:
    """Both arms serve A: how often the report says no difference, and how often the exposure-level
    z-test (the baseline) would have called one on the same data."""
    counts: Counter[str] = Counter()
    per_metric: Counter[str] = Counter()
    naive_fp, srm_fp, rates = 0, 0, []
    t = time.perf_counter()
    for r in range(reps):
        report, naive_p, rate = ab_once(arms, {"A": "A", "B": "A"}, n, searches, seed0 + r, min_units)
        counts[report.verdict] += 1
        for m in report.metrics:
            per_metric[m.name] += m.verdict == NO_DIFFERENCE
        naive_fp += naive_p is not None and naive_p < alpha
        srm_fp += report.srm_p_value is not None and report.srm_p_value < alpha
        rates.append(rate)
    share = counts[NO_DIFFERENCE] / reps
    return {
        "units_total": n,
        "reps": reps,
        "no_difference_share": share,
        "no_difference_ci95": wilson(counts[NO_DIFFERENCE], reps),
        "verdicts": dict(counts),
        **{f"no_difference_{k}": v / reps for k, v in per_metric.items()},
        "baseline_exposure_level_ztest_ctr_false_positive_rate": naive_fp / reps,
        "srm_false_alarm_rate": srm_fp / reps,
        "simulated_ctr": float(np.mean([x["ctr"] for x in rates])),
        "simulated_conversion_per_search": float(np.mean([x["conversion"] for x in rates])),
        "target": ">= 0.95",
        "verdict": "PASS" if share >= 0.95 else "FAIL",
        "seconds": round(time.perf_counter() - t, 1),
    }


def interleaving_runs(
    arms: Arms,
    worse: list[str],
    sizes: list[int],
    reps: int,
    aa_reps: int,
    searches: np.ndarray,
    seed0: int,
    min_decisive: int,
) -> dict[str, Any]:
    """Team-draft A (team A) against each worse ranker (team B), and A against itself."""
    aa_lists = interleavings(arms, "A", "A", seed0 + 1)
    curves: dict[str, list[dict[str, Any]]] = {}
    for variant in worse:
        ab_lists = interleavings(arms, "A", variant, seed0)
        rows = curves.setdefault(variant, [])
        for n in sizes:
            counts: Counter[str] = Counter()
            for r in range(reps):
                report = interleave_once(ab_lists, n, searches, seed0 + 10_000 * n + r, min_decisive)
                counts[report.verdict] += 1
            rows.append(
                {
                    "units_total": n,
                    "reps": reps,
                    "power": counts[A_BETTER] / reps,
                    "wrong_winner": counts[B_BETTER] / reps,
                }
            )
            console.print(f"  interleaving {variant} n={n:,}: {rows[-1]}")
    aa_n = max(sizes)
    aa: Counter[str] = Counter()
    for r in range(aa_reps):
        aa[interleave_once(aa_lists, aa_n, searches, seed0 + 7_000_000 + r, min_decisive).verdict] += 1
    return {
        "power_curve": curves,
        "aa": {
            "units_total": aa_n,
            "reps": aa_reps,
            "no_difference_share": aa[NO_DIFFERENCE] / aa_reps,
            "no_difference_ci95": wilson(aa[NO_DIFFERENCE], aa_reps),
            "verdicts": dict(aa),
        },
    }


def wilson(successes: int, n: int, z: float = 1.96) -> list[float]:
    """Wilson score interval of a measured share (how sure the A/A figure itself is)."""
    if n == 0:
        return [0.0, 1.0]
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(float(centre - half), 4), round(float(centre + half), 4)]


def smallest(rows: list[dict[str, Any]], key: str, level: float) -> int | None:
    return next((r["units_total"] for r in rows if r[key] >= level), None)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--bundles", type=Path, default=None, help="bundles dir with latest (default /tmp/b2)"
    )
    parser.add_argument("--train", action="store_true", help="train a sample bundle into /tmp/abb if none")
    parser.add_argument("--data", type=Path, default=REPO / "data_samples")
    parser.add_argument("--worse", nargs="+", default=list(WORSE), choices=list(WORSE))
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 400, 800, 1600, 3200, 6400, 12800])
    parser.add_argument("--reps", type=int, default=200, help="repetitions per A/B sample size")
    parser.add_argument("--aa-units", type=int, default=4000)
    parser.add_argument("--aa-reps", type=int, default=500)
    parser.add_argument("--il-sizes", type=int, nargs="+", default=[25, 50, 100, 200, 400, 800])
    parser.add_argument("--il-reps", type=int, default=200)
    parser.add_argument("--min-units", type=int, default=100, help="min_units_per_arm given to compare_arms")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    alpha = 0.05
    setup: dict[str, float] = {}
    machine = machine_info()
    with timed("rankings of every arm for every labelled query", setup):
        bundles = find_bundle(args)
        arms = arm_rankings(bundles, args.data)
    with timed("searches per shopper from the logs", setup):
        searches = searches_per_shopper(args.data / "events.jsonl.gz")
        logged_ctr = logged_click_rate(args.data / "events.jsonl.gz")
    console.print(
        "NDCG@10 "
        + ", ".join(f"{k} {v:.3f}" for k, v in arms.ndcg.items())
        + f"; {len(searches):,} logged shoppers, {searches.mean():.2f} searches each"
    )
    with timed("A/A", setup):
        aa = aa_run(arms, args.aa_units, args.aa_reps, searches, args.min_units, args.seed, alpha)
    ab: dict[str, list[dict[str, Any]]] = {}
    for variant in args.worse:
        with timed(f"A/B power curve, B = {variant}", setup):
            ab[variant] = power_curve(
                arms, variant, args.sizes, args.reps, searches, args.min_units, args.seed + 1
            )
    with timed("interleaving", setup):
        il = interleaving_runs(
            arms,
            args.worse,
            args.il_sizes,
            args.il_reps,
            args.aa_reps,
            searches,
            args.seed + 2,
            min_decisive=20,
        )
    with timed("below the minimum sample", setup):
        # Fewer shoppers than min_units_per_arm, against the clearly worse arm: never a winner.
        small = Counter(
            ab_once(
                arms,
                {"A": "A", "B": args.worse[0]},
                args.min_units,
                searches,
                args.seed + 3 + r,
                args.min_units,
            )[0].verdict
            for r in range(50)
        )
    ab_80 = {v: smallest(rows, "power_overall", 0.8) for v, rows in ab.items()}
    il_80 = {v: smallest(rows, "power", 0.8) for v, rows in il["power_curve"].items()}
    print_table(
        "A/A: both arms serve the bundle's search (no real difference)",
        [
            "test",
            "shoppers",
            "reps",
            "no difference",
            "95% CI",
            "exposure-level z-test FP (baseline)",
            "verdict",
        ],
        [
            [
                "A/B report",
                aa["units_total"],
                aa["reps"],
                f"{aa['no_difference_share']:.1%}",
                f"{aa['no_difference_ci95'][0]:.1%}-{aa['no_difference_ci95'][1]:.1%}",
                f"{aa['baseline_exposure_level_ztest_ctr_false_positive_rate']:.1%}",
                aa["verdict"],
            ],
            [
                "interleaving",
                il["aa"]["units_total"],
                il["aa"]["reps"],
                f"{il['aa']['no_difference_share']:.1%}",
                f"{il['aa']['no_difference_ci95'][0]:.1%}-{il['aa']['no_difference_ci95'][1]:.1%}",
                "-",
                "PASS" if il["aa"]["no_difference_share"] >= 0.95 else "FAIL",
            ],
        ],
    )
    for variant, rows in ab.items():
        print_table(
            f"A/B: A served (NDCG@10 {arms.ndcg['A']:.3f}) vs B {variant} ({arms.ndcg[variant]:.3f}); "
            "power = share of reps finding A better",
            [
                "shoppers",
                "reps",
                "power",
                "CTR",
                "conversion",
                "revenue",
                "wrong winner",
                "req./arm (5% MDE)",
            ],
            [
                [
                    r["units_total"],
                    r["reps"],
                    f"{r['power_overall']:.1%}",
                    f"{r.get('power_ctr', 0):.1%}",
                    f"{r.get('power_conversion_rate', 0):.1%}",
                    f"{r.get('power_revenue_per_exposure', 0):.1%}",
                    f"{r['wrong_winner']:.1%}",
                    r["median_required_units_per_arm_5pct_mde"],
                ]
                for r in rows
            ],
        )
    print_table(
        "Team-draft interleaving, A vs each worse ranker: power = share of reps finding A better",
        ["B", "shoppers", "reps", "power", "wrong winner"],
        [
            [v, r["units_total"], r["reps"], f"{r['power']:.1%}", f"{r['wrong_winner']:.1%}"]
            for v, rows in il["power_curve"].items()
            for r in rows
        ],
    )
    console.print(
        f"shoppers for 80% power: A/B {ab_80}, interleaving {il_80}; below the minimum sample: {dict(small)}"
    )
    write_result(
        "ab",
        {
            "bundle": str(bundles),
            "arms": {
                "A": "bundle search as served (SearchEngine.search, default rules), top 10",
                **{f"B={k}": v for k, v in WORSE.items() if k in args.worse},
                "ndcg_at_10": arms.ndcg,
                "labelled_queries": len(arms.queries),
            },
            "simulation": {
                "attract": f"({ATTRACT_BASE} + {ATTRACT_GAIN} gain) * engagement",
                "convert_after_click": f"({CONVERT_BASE} + {CONVERT_GAIN} gain) * intent",
                "patience": PATIENCE,
                "stop_after_click": STOP_AFTER_CLICK,
                "shopper_gamma_shape": SHOPPER_SHAPE,
                "searches_per_shopper_mean": float(searches.mean()),
                "logged_shoppers": len(searches),
                "logged_click_rate": logged_ctr,
                "interleavings_per_query": INTERLEAVINGS_PER_QUERY,
                "split_b": 0.5,
                "alpha": alpha,
                "min_units_per_arm": args.min_units,
                "min_decisive_interleaving": 20,
                "seed": args.seed,
                "units": "shoppers in the whole experiment (both arms)",
            },
            "aa": aa,
            "ab_power_curve": ab,
            "ab_units_total_for_80pct_power": ab_80,
            "interleaving": il,
            "interleaving_units_total_for_80pct_power": il_80,
            "below_min_sample_verdicts": dict(small),
            "setup_s": setup,
            "machine": machine,
        },
        out=args.out,
    )


if __name__ == "__main__":
    main()
