"""Merchandising rules on recommendation lists and emails, and the newsletter's new / sale picks.

The rules are search's (``models/rules.py``: pin, boost, bury, hide; ``on_sale`` and
``new_arrival_days`` boosts), each applying to the surfaces it names. Here they re-rank a finished
list of :class:`models.recommend.Recommendation` and every slot a rule put or moved there says so:
reason code ``promoted`` (a pin or a boost), ``on_sale`` or ``new_arrival`` (those boosts), with a
sentence ``models/i18n.py`` renders in the reader's language. A member's lists also boost the
member-only products their tier unlocks (``boost_member_offers``, reason code ``member_offer``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from models.catalog import Catalog
from models.live.prices import PriceView
from models.recommend import Recommendation
from models.rules import RuleSet, Signals

REASONS = {
    "promoted": "Featured by the shop",
    "on_sale": "On sale now",
    "new_arrival": "New arrival",
}
MEMBER_OFFER = "member_offer"


def member_offer_reason(tier: str) -> str:
    """The sentence of a boosted member offer (``models/i18n.py`` renders it)."""
    return f"Member offer, unlocked by your {tier} tier"


NEW_ARRIVAL_DAYS = 30
"""The newsletter's "new" section: products first seen this many days ago or less."""


def signals(catalog: Catalog, prices: PriceView, now: pd.Timestamp, n_trained: int | None = None) -> Signals:
    """On sale for this shopper now, and days since each product was first seen: its
    ``created_at`` when the catalog has one, 0 for a product added live since training."""
    age = np.full(len(catalog), np.nan)
    if "created_at" in catalog.products.columns:
        created = pd.to_datetime(catalog.products["created_at"], utc=True, errors="coerce")
        when = pd.Timestamp(now)
        when = when.tz_localize("UTC") if when.tzinfo is None else when
        age = (
            ((when - created).dt.total_seconds() / 86400.0).to_numpy(dtype=np.float64, na_value=np.nan).copy()
        )
    if n_trained is not None and n_trained < len(catalog):
        live = age[n_trained:]
        age[n_trained:] = np.where(np.isfinite(live), live, 0.0)
    return Signals(on_sale=prices.on_sale(), age_days=age)


def promote(
    rules: RuleSet | None,
    surface: str,
    recs: list[Recommendation],
    catalog: Catalog,
    allowed: np.ndarray | None,
    signals: Signals | None,
    k: int,
) -> tuple[list[Recommendation], list[str]]:
    """``recs`` with the rules of ``surface`` applied (hidden out, boosted up, pins at their slot),
    cut to ``k``; returns (list, ids of the rules that applied)."""
    if rules is None or not rules.for_surface(surface):
        return recs[:k], []
    by_item = {r.item: r for r in recs}
    items = np.array([r.item for r in recs], dtype=np.int64)
    scores = np.array([r.score for r in recs], dtype=np.float64)
    applied = rules.apply_surface(surface, items, scores, catalog, allowed=allowed, signals=signals)
    out = []
    for item, score in zip(applied.items.tolist()[:k], applied.scores.tolist()[:k], strict=True):
        code = applied.reasons.get(int(item))
        found = by_item.get(int(item))
        if code is not None:
            out.append(Recommendation(int(item), float(score), code, REASONS[code]))
        elif found is not None:
            out.append(replace(found, score=float(score)))
    return out, applied.fired


def boost_member_offers(
    recs: list[Recommendation], unlocked: np.ndarray | None, factor: float, tier: str
) -> list[Recommendation]:
    """A member's list with the member-only products their tier unlocks (``unlocked``, a mask from
    ``models.loyalty.unlocked_products``) boosted: their scores (shifted positive, as rule boosts
    are) times ``factor``, re-ranked, each with reason code ``member_offer``. Unchanged without
    such a product in the list or with ``factor`` 1."""
    if unlocked is None or factor <= 1.0 or not recs:
        return recs
    items = np.array([r.item for r in recs], dtype=np.int64)
    hit = (items < len(unlocked)) & unlocked[np.minimum(items, len(unlocked) - 1)]
    if not hit.any():
        return recs
    scores = np.nan_to_num(np.array([r.score for r in recs], dtype=np.float64), posinf=0.0, neginf=0.0)
    boosted = (scores - scores.min() + 1.0) * np.where(hit, factor, 1.0)
    order = np.argsort(-boosted, kind="stable")
    reason = member_offer_reason(tier)
    return [
        replace(recs[i], score=float(boosted[i]), reason_code=MEMBER_OFFER, reason=reason)
        if hit[i]
        else replace(recs[i], score=float(boosted[i]))
        for i in order.tolist()
    ]


def picks_for(
    catalog: Catalog,
    sig: Signals,
    categories: list[str],
    eligible: np.ndarray,
    popularity: np.ndarray,
    k: int,
    exclude: set[int] | None = None,
    new_days: int = NEW_ARRIVAL_DAYS,
) -> list[Recommendation]:
    """The newsletter's section: new arrivals and sale items of the person's top categories (in
    affinity order), the newest / most popular first, alternating new and sale within a category."""
    tops = catalog.column["top_category"]
    items = np.arange(len(catalog))
    new = sig.new(items, new_days) & eligible
    sale = sig.sale(items) & eligible
    out: dict[int, Recommendation] = {}
    for cat in categories:
        in_cat = tops == cat
        fresh = np.flatnonzero(new & in_cat)
        age = np.asarray(sig.age_days, dtype=np.float64)[fresh] if sig.age_days is not None else np.zeros(0)
        fresh = fresh[np.lexsort((fresh, age))] if fresh.size else fresh
        cheap = np.flatnonzero(sale & in_cat & ~new)
        cheap = cheap[np.lexsort((cheap, -popularity[cheap]))] if cheap.size else cheap
        for a, b in _zip_longest(fresh.tolist(), cheap.tolist()):
            for item, code in ((a, "new_arrival"), (b, "on_sale")):
                if item is None or item in out or (exclude and item in exclude) or len(out) >= k:
                    continue
                out[item] = Recommendation(item, 0.0, code, f"{REASONS[code]} in {cat}, picked for you")
        if len(out) >= k:
            break
    return list(out.values())


def _zip_longest(a: list[int], b: list[int]) -> list[tuple[int | None, int | None]]:
    n = max(len(a), len(b))
    return [(a[i] if i < len(a) else None, b[i] if i < len(b) else None) for i in range(n)]
