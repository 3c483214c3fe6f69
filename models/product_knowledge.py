"""What the rules need to know about a kind of product: durable or consumable, and how often.

A coffee machine, a suitcase or a blender is bought once: offering it again to someone who owns it
is the most visible mistake a recommender makes. Coffee beans, diapers and dog food are bought
again, on a cycle, and are worth offering when that cycle is due.

Per category (the full product-type path) the kind comes from, in order:

1. declared: a ``replenishment_days`` on the category's products in the import format (its median
   is the cycle);
2. learned: the share of (customer, product) pairs bought on two or more distinct days. Durables
   stay near 0 (a second phone case of the same model is rare), consumables are far above; from
   ``min_pairs`` pairs on, a rate of at least ``consumable_rate`` makes a consumable whose cycle is
   the median gap between repeat purchases of the same product;
3. default: durable (with no evidence of repeat buying, never re-offering what someone owns is
   the mistake that costs less).

Training learns it from every purchase and writes one JSON file into the bundle; the engine maps it
onto any catalog (products added live inherit their category's kind).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class CategoryKind:
    consumable: bool
    cycle_days: float | None
    """Typical days between purchases of the same product (consumables only)."""
    repeat_rate: float | None
    """Share of (customer, product) pairs bought on 2+ distinct days; None without purchases."""
    pairs: int
    source: str
    """"declared", "learned" or "default"."""


@dataclass
class ProductKnowledge:
    categories: dict[str, CategoryKind]
    consumable_rate: float = 0.15
    """On the sample (resolved customers) durables repeat at 10% at most, consumables at 20% and
    more; at 0.1 a phone mount bought again by a few households read as a consumable."""
    min_pairs: int = 30

    @classmethod
    def learn(
        cls,
        products: pd.DataFrame,
        purchases: pd.DataFrame,
        consumable_rate: float = 0.15,
        min_pairs: int = 30,
    ) -> ProductKnowledge:
        """``products``: sku, category, optional replenishment_days. ``purchases``: customer_id,
        sku, timestamp (one row per purchase line; unidentified rows are ignored)."""
        categories = products["category"].fillna("").astype(str)
        declared = (
            pd.to_numeric(products["replenishment_days"], errors="coerce")
            if "replenishment_days" in products.columns
            else pd.Series(np.nan, index=products.index)
        )
        declared_cycle = declared.groupby(categories).median()
        category_of = pd.Series(categories.to_numpy(), index=products["sku"].astype(str).to_numpy())
        category_of = category_of[~category_of.index.duplicated()]
        rates, gaps, pairs = _repeat_statistics(purchases, category_of)
        out: dict[str, CategoryKind] = {}
        for category in sorted(set(categories) - {""}):
            n = int(pairs.get(category, 0))
            rate = float(rates[category]) if category in rates.index else None
            cycle = declared_cycle.get(category)
            if cycle is not None and np.isfinite(cycle):
                out[category] = CategoryKind(True, float(cycle), rate, n, "declared")
            elif rate is not None and n >= min_pairs:
                learned = rate >= consumable_rate
                gap = gaps.get(category)
                cycle_days = float(gap) if learned and gap is not None and np.isfinite(gap) else None
                out[category] = CategoryKind(
                    learned and cycle_days is not None, cycle_days, rate, n, "learned"
                )
            else:
                out[category] = CategoryKind(False, None, rate, n, "default")
        return cls(out, consumable_rate, min_pairs)

    @classmethod
    def declared_only(cls, products: pd.DataFrame) -> ProductKnowledge:
        """From the catalog alone (a bundle trained before this file existed)."""
        empty = pd.DataFrame({"customer_id": [], "sku": [], "timestamp": pd.to_datetime([], utc=True)})
        return cls.learn(products, empty)

    def item_arrays(self, categories: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per item (its category path): (cycle days, NaN for durables; durable flag)."""
        cycles = np.full(len(categories), np.nan)
        durable = np.ones(len(categories), dtype=bool)
        codes, uniques = pd.factorize(pd.Series(categories, dtype=object).fillna(""))
        for code, category in enumerate(uniques):
            kind = self.categories.get(str(category))
            if kind is not None and kind.consumable and kind.cycle_days:
                rows = codes == code
                cycles[rows] = kind.cycle_days
                durable[rows] = False
        return cycles, durable

    def summary(self) -> dict:
        """Counts per kind and source, for the training report."""
        kinds = [k for k in self.categories.values()]
        return {
            "categories": len(kinds),
            "consumable": sum(k.consumable for k in kinds),
            "durable": sum(not k.consumable for k in kinds),
            "by_source": {s: sum(k.source == s for k in kinds) for s in ("declared", "learned", "default")},
            "consumable_rate_threshold": self.consumable_rate,
        }

    def save(self, path: Path) -> None:
        payload = {
            "consumable_rate": self.consumable_rate,
            "min_pairs": self.min_pairs,
            "categories": {c: asdict(k) for c, k in sorted(self.categories.items())},
        }
        Path(path).write_text(json.dumps(payload, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> ProductKnowledge:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(
            {c: CategoryKind(**k) for c, k in payload["categories"].items()},
            payload["consumable_rate"],
            payload["min_pairs"],
        )


def _repeat_statistics(
    purchases: pd.DataFrame, category_of: pd.Series
) -> tuple[pd.Series, dict[str, float], dict[str, int]]:
    """Per category: repeat rate of (customer, product) pairs, median repeat gap (days), pair count."""
    rows = purchases[purchases["customer_id"].notna() & purchases["sku"].notna()]
    if rows.empty:
        return pd.Series(dtype=float), {}, {}
    frame = pd.DataFrame(
        {
            "customer": rows["customer_id"].astype(str).to_numpy(),
            "sku": rows["sku"].astype(str).to_numpy(),
            "day": pd.to_datetime(rows["timestamp"], utc=True).dt.floor("D").to_numpy(),
        }
    ).drop_duplicates()
    frame["category"] = category_of.reindex(frame["sku"]).to_numpy()
    frame = frame[frame["category"].notna()].sort_values(["customer", "sku", "day"])
    days_per_pair = frame.groupby(["category", "customer", "sku"], observed=True)["day"].size()
    rates = (days_per_pair >= 2).groupby(level="category").mean()
    pairs = days_per_pair.groupby(level="category").size().to_dict()
    same_pair = (frame["customer"].to_numpy()[1:] == frame["customer"].to_numpy()[:-1]) & (
        frame["sku"].to_numpy()[1:] == frame["sku"].to_numpy()[:-1]
    )
    gap_days = np.diff(frame["day"].to_numpy()).astype("timedelta64[s]").astype(np.float64) / 86400.0
    gaps = (
        pd.Series(gap_days[same_pair], index=frame["category"].to_numpy()[1:][same_pair])
        .groupby(level=0)
        .median()
        .to_dict()
    )
    return rates, gaps, pairs
