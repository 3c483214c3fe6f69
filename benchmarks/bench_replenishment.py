"""Replenishment: do learned purchase cycles predict re-purchases better than a fixed interval?

On any import-format data directory (``omnirank import-dataset online-retail --source ... --out
DIR`` for UCI Online Retail II, or ``data_samples``): purchases in every channel are resolved to
people as training does (``training.identity``), the last ``--holdout-days`` are held back, and
``training.eval_replenishment`` scores three ways of calling a (customer, repeat item) pair "due in
the held-back weeks" against the actual re-purchases there: the fixed-interval baseline (every item
due every N days, N the global median gap), per-product cycles, and per-person cycles where the
customer has 3+ purchase days (omnirank's rule). Same pairs, same truth, same metric definitions.

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_replenishment.py --data DIR [--name NAME]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import console, write_result  # noqa: E402

from models.config import Settings  # noqa: E402
from training import identity  # noqa: E402
from training.eval_replenishment import METHODS, evaluate_replenishment  # noqa: E402
from training.ingest import ingest  # noqa: E402

LABELS = {
    "fixed": "fixed interval (baseline)",
    "product": "per-product cycle",
    "person": "per-person cycle (omnirank)",
}


def resolved_purchases(data_dir: Path, settings: Settings) -> pd.DataFrame:
    """customer_id, sku, timestamp of every purchase line, identifiers resolved to people."""
    with tempfile.TemporaryDirectory() as tmp:
        data = ingest(data_dir, Path(tmp) / "quarantine.jsonl")
    graph = identity.resolve(data.customers, data.events, settings.pii_salt, data.unsubscribes["email"])
    events = data.events
    events["customer_id"] = graph.customer_of(events, settings.pii_salt)
    return events.loc[events["type"].astype(str) == "purchase", ["customer_id", "sku", "timestamp"]]


def print_table(result: dict) -> None:
    table = Table(
        title=f"replenishment: 'due in the last {result['holdout_days']} days' vs actual re-purchases "
        f"({result['candidate_pairs']:,} pairs, {result['repurchased_pairs']:,} re-purchased)"
    )
    for col in ("method", "predicted due", "precision [95% CI]", "recall [95% CI]", "F1"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for name in METHODS:
        m = result["methods"][name]
        ci = {k: m.get(f"{k}_ci", [float("nan")] * 2) for k in ("precision", "recall")}
        table.add_row(
            LABELS[name] + (f", N = {result['fixed_interval_days']:g} d" if name == "fixed" else ""),
            f"{m['predicted_due']:,}",
            f"{m['precision']:.3f} [{ci['precision'][0]:.3f}, {ci['precision'][1]:.3f}]",
            f"{m['recall']:.3f} [{ci['recall'][0]:.3f}, {ci['recall'][1]:.3f}]",
            f"{m['f1']:.3f}",
        )
    console.print(table)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="import-format data directory")
    parser.add_argument("--name", default="replenishment", help="results file name (benchmarks/results/)")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here instead")
    parser.add_argument("--holdout-days", type=int, default=None, help="default OMNIRANK_HOLDOUT_DAYS (28)")
    args = parser.parse_args(argv)
    settings = Settings()
    start = time.perf_counter()
    purchases = resolved_purchases(args.data, settings)
    result = evaluate_replenishment(
        purchases,
        holdout_days=args.holdout_days or settings.holdout_days,
        min_repeaters=settings.recs_cycle_min_repeaters,
        person_min_purchases=settings.recs_person_cycle_min_purchases,
        person_prior_gaps=settings.recs_person_cycle_prior_gaps,
        seed=settings.random_seed,
    )
    result["data"] = str(args.data)
    result["seconds"] = round(time.perf_counter() - start, 1)
    print_table(result)
    write_result(args.name, result, args.out)
    return result


if __name__ == "__main__":
    main()
