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

Within a consumable category each product has its own cycle where enough customers re-bought it
(``min_repeaters`` customers with 2+ purchase days: the median gap between their purchases of that
sku), else the category's. A customer who bought a sku on ``person_min_purchases`` (3) or more
days has their own cycle for it: their median gap, shrunk toward the product's cycle by
``person_prior_gaps`` pseudo-gaps (two gaps of 12 days against a 30-day product: (2*12 + 2*30)/4 =
21 days). Purchases in every channel count: a POS receipt as much as an online order.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
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


@dataclass(frozen=True)
class ProductCycle:
    cycle_days: float
    """Median days between purchase days of this sku by the customers who re-bought it."""
    repeaters: int
    """Customers who bought it on two or more days."""


@dataclass
class ProductKnowledge:
    categories: dict[str, CategoryKind]
    consumable_rate: float = 0.15
    """On the sample (resolved customers) durables repeat at 10% at most, consumables at 20% and
    more; at 0.1 a phone mount bought again by a few households read as a consumable."""
    min_pairs: int = 30
    products: dict[str, ProductCycle] = field(default_factory=dict)
    """sku -> its own cycle (products with ``min_repeaters`` repeat buyers or more)."""
    people: pd.DataFrame = field(default_factory=lambda: empty_person_cycles())
    """customer_id, sku, cycle_days (shrunk), own_days, purchases: per-person cycles."""
    min_repeaters: int = 5
    person_min_purchases: int = 3
    person_prior_gaps: float = 2.0

    @classmethod
    def learn(
        cls,
        products: pd.DataFrame,
        purchases: pd.DataFrame,
        consumable_rate: float = 0.15,
        min_pairs: int = 30,
        min_repeaters: int = 5,
        person_min_purchases: int = 3,
        person_prior_gaps: float = 2.0,
    ) -> ProductKnowledge:
        """``products``: sku, category, optional replenishment_days. ``purchases``: customer_id,
        sku, timestamp (one row per purchase line, any channel; unidentified rows are ignored)."""
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
        days = purchase_days(purchases)
        own = product_cycles(days, min_repeaters)
        # a person's cycle shrinks toward their product's: its own, else its consumable category's
        category_cycle = {c: k.cycle_days for c, k in out.items() if k.consumable and k.cycle_days}
        target = {
            sku: own[sku].cycle_days if sku in own else category_cycle.get(str(category_of.get(sku)))
            for sku in days["sku"].unique()
        }
        people = person_cycles(days, target, person_min_purchases, person_prior_gaps)
        return cls(
            out,
            consumable_rate,
            min_pairs,
            own,
            people,
            min_repeaters,
            person_min_purchases,
            person_prior_gaps,
        )

    @classmethod
    def declared_only(cls, products: pd.DataFrame) -> ProductKnowledge:
        """From the catalog alone (a bundle trained before this file existed)."""
        empty = pd.DataFrame({"customer_id": [], "sku": [], "timestamp": pd.to_datetime([], utc=True)})
        return cls.learn(products, empty)

    def item_arrays(
        self, categories: np.ndarray, skus: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per item (its category path): (cycle days, NaN for durables; durable flag). With
        ``skus``, an item of a consumable category takes its product's own cycle where learned."""
        cycles = np.full(len(categories), np.nan)
        durable = np.ones(len(categories), dtype=bool)
        codes, uniques = pd.factorize(pd.Series(categories, dtype=object).fillna(""))
        for code, category in enumerate(uniques):
            kind = self.categories.get(str(category))
            if kind is not None and kind.consumable and kind.cycle_days:
                rows = codes == code
                cycles[rows] = kind.cycle_days
                durable[rows] = False
        if skus is not None and self.products:
            own = pd.Series({sku: c.cycle_days for sku, c in self.products.items()}, dtype=float)
            per_item = own.reindex(pd.Series(skus, dtype=object).astype(str)).to_numpy()
            cycles = np.where(~durable & np.isfinite(per_item), per_item, cycles)
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
            "product_cycles": len(self.products),
            "person_cycles": int(len(self.people)),
        }

    def save(self, path: Path) -> None:
        payload = {
            "consumable_rate": self.consumable_rate,
            "min_pairs": self.min_pairs,
            "categories": {c: asdict(k) for c, k in sorted(self.categories.items())},
            "min_repeaters": self.min_repeaters,
            "person_min_purchases": self.person_min_purchases,
            "person_prior_gaps": self.person_prior_gaps,
            "products": {s: [c.cycle_days, c.repeaters] for s, c in sorted(self.products.items())},
            # columns, not one object per person: a million pairs stay a few compact lists
            "people": {c: self.people[c].tolist() for c in PERSON_COLUMNS},
        }
        Path(path).write_text(json.dumps(payload, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> ProductKnowledge:
        """A file from before per-product and per-person cycles loads with none of them."""
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
        people = payload.get("people")
        return cls(
            {c: CategoryKind(**k) for c, k in payload["categories"].items()},
            payload["consumable_rate"],
            payload["min_pairs"],
            {s: ProductCycle(float(c), int(n)) for s, (c, n) in payload.get("products", {}).items()},
            pd.DataFrame(people)[PERSON_COLUMNS] if people else empty_person_cycles(),
            payload.get("min_repeaters", 5),
            payload.get("person_min_purchases", 3),
            payload.get("person_prior_gaps", 2.0),
        )


PERSON_COLUMNS = ["customer_id", "sku", "cycle_days", "own_days", "purchases"]


def empty_person_cycles() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series(dtype=object),
            "sku": pd.Series(dtype=object),
            "cycle_days": pd.Series(dtype=float),
            "own_days": pd.Series(dtype=float),
            "purchases": pd.Series(dtype="int64"),
        }
    )


def purchase_days(purchases: pd.DataFrame) -> pd.DataFrame:
    """customer, sku, day: one row per distinct purchase day of a (customer, sku), sorted."""
    rows = purchases[purchases["customer_id"].notna() & purchases["sku"].notna()]
    return (
        pd.DataFrame(
            {
                "customer": rows["customer_id"].astype(str).to_numpy(),
                "sku": rows["sku"].astype(str).to_numpy(),
                "day": pd.to_datetime(rows["timestamp"], utc=True).dt.floor("D").to_numpy(),
            }
        )
        .drop_duplicates()
        .sort_values(["customer", "sku", "day"], kind="stable")
        .reset_index(drop=True)
    )


def purchase_gaps(days: pd.DataFrame) -> pd.DataFrame:
    """customer, sku, gap (days) between consecutive purchase days of the same pair."""
    same = (days["customer"].to_numpy()[1:] == days["customer"].to_numpy()[:-1]) & (
        days["sku"].to_numpy()[1:] == days["sku"].to_numpy()[:-1]
    )
    gap = np.diff(days["day"].to_numpy()).astype("timedelta64[s]").astype(np.float64) / 86400.0
    return pd.DataFrame(
        {
            "customer": days["customer"].to_numpy()[1:][same],
            "sku": days["sku"].to_numpy()[1:][same],
            "gap": gap[same] if len(gap) else np.zeros(0),
        }
    )


def product_cycles(days: pd.DataFrame, min_repeaters: int) -> dict[str, ProductCycle]:
    """sku -> median gap between purchase days of its repeat buyers, from ``min_repeaters`` on."""
    gaps = purchase_gaps(days)
    if gaps.empty:
        return {}
    by_sku = gaps.groupby("sku")
    repeaters = by_sku["customer"].nunique()
    median = by_sku["gap"].median()
    keep = repeaters.index[repeaters >= max(1, min_repeaters)]
    return {str(s): ProductCycle(float(median[s]), int(repeaters[s])) for s in sorted(keep)}


def person_cycles(
    days: pd.DataFrame, target: dict[str, float | None], min_purchases: int, prior_gaps: float
) -> pd.DataFrame:
    """Per (customer, sku) bought on ``min_purchases`` days or more: the customer's median gap,
    shrunk toward ``target[sku]`` (the product's cycle) as if it were ``prior_gaps`` more gaps."""
    gaps = purchase_gaps(days)
    if gaps.empty:
        return empty_person_cycles()
    stats = gaps.groupby(["customer", "sku"], sort=True)["gap"].agg(["median", "size"]).reset_index()
    stats = stats[stats["size"] + 1 >= min_purchases]
    prior = pd.to_numeric(stats["sku"].map(target), errors="coerce").to_numpy(dtype=float)
    n, own = stats["size"].to_numpy(dtype=float), stats["median"].to_numpy(dtype=float)
    shrunk = np.where(np.isfinite(prior), (n * own + prior_gaps * prior) / (n + prior_gaps), own)
    return pd.DataFrame(
        {
            "customer_id": stats["customer"].astype(str).to_numpy(dtype=object),
            "sku": stats["sku"].astype(str).to_numpy(dtype=object),
            "cycle_days": shrunk,
            "own_days": own,
            "purchases": (stats["size"] + 1).to_numpy(dtype="int64"),
        }
    ).reset_index(drop=True)


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
