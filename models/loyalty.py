"""Loyalty members: tier, points, joined date, what their tier unlocks and how far the next one is.

A member's facts come from the import format (``customers``: ``loyalty_tier``, ``loyalty_points``,
``loyalty_joined``, carried into the bundle's customer table) and, between trainings, from the
live store (``PUT /v1/customers/loyalty``), the live value winning. The tiers themselves (name,
``min_points`` and/or ``min_purchases``, lowest first) are the ``loyalty`` section of the live
rules file (``models/rules.py``), edited with the other merchandising rules.

What a tier unlocks:

* **member-only products**: a product's ``member_tier_min`` (import format or ``PUT
  /v1/products``) names the lowest tier that may see it; nobody else (an anonymous shopper, a
  non-member, a lower tier) ever sees it in search, recommendations or emails;
* **member prices**: a ``PUT /v1/prices`` row with ``tier`` is a price override for members of that
  tier and above; a member pays the lowest of it and the public price, shown with the public price
  as ``list_price``;
* **member offers**: the member-only products a member's tier unlocks are boosted in their
  recommendations and emails (the rules file's ``loyalty.member_offer_boost``, reason
  ``member_offer``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from models.catalog import Catalog
from models.live.prices import PriceBook, PriceView
from models.rules import Loyalty, Tier

TIER_PRICE_PREFIX = "tier:"
"""A tier price is stored as a price override whose channel is ``tier:<name>``: no shopper's
channel ever equals it, so the public price resolution never sees it."""


@dataclass(frozen=True)
class Member:
    tier: str
    points: int | None = None
    joined: date | None = None


def _rank_table(program: Loyalty) -> dict[str, int]:
    return {t.name.casefold(): i for i, t in enumerate(program.tiers)}


def rank(program: Loyalty, tier: str | None) -> int:
    """A tier's rank (0 = lowest); -1 for no tier. A tier the programme does not list ranks 0."""
    if tier is None or not str(tier).strip():
        return -1
    return _rank_table(program).get(str(tier).casefold(), 0)


def unlocked_tiers(program: Loyalty, member: Member | None) -> tuple[str, ...]:
    """The tiers whose prices a member gets: theirs and every listed tier below it."""
    if member is None:
        return ()
    mine = rank(program, member.tier)
    listed = tuple(t.name.casefold() for t in program.tiers[: mine + 1] if mine >= 0)
    return tuple(dict.fromkeys((*listed, member.tier.casefold())))


def _product_ranks(catalog: Catalog, program: Loyalty) -> np.ndarray | None:
    """Per product, the rank of the lowest tier that may see it (-1: everyone); None when no product
    is member-only. Ranks the catalog's few tier names, not every product."""
    if catalog.member_tiers is None:
        return None
    codes, names = catalog.member_tiers
    table = np.array([rank(program, name) for name in names] + [-1], dtype=np.int32)
    return table[codes]  # code -1 picks the trailing -1


def hidden_products(catalog: Catalog, program: Loyalty, member: Member | None) -> np.ndarray | None:
    """Products this shopper may not see (member-only above their tier), as a mask; None when none."""
    ranks = _product_ranks(catalog, program)
    if ranks is None:
        return None
    hidden = ranks >= 0 if member is None else ranks > rank(program, member.tier)
    return hidden if hidden.any() else None


def unlocked_products(catalog: Catalog, program: Loyalty, member: Member | None) -> np.ndarray | None:
    """The member-only products this member's tier unlocks (``member_tier_min`` at or below their
    tier), as a mask; None for a non-member or when there are none. What their recommendations and
    emails boost (``models.promotions.boost_member_offers``); nobody else ever sees them."""
    mine = -1 if member is None else rank(program, member.tier)
    ranks = _product_ranks(catalog, program)
    if mine < 0 or ranks is None:
        return None
    mask = (ranks >= 0) & (ranks <= mine)
    return mask if mask.any() else None


def member_prices(
    book: PriceBook, view: PriceView, channel: str, store_id: str | None, now: float, tiers: tuple[str, ...]
) -> PriceView:
    """``view`` (the public prices for this shopper) with the member prices of ``tiers`` applied:
    per product the lowest tier price in force (a store-scoped one only in that store), when it is
    below the public price; the public price then shows as ``list_price``."""
    if not tiers or not book.item.size:
        return view
    wanted = np.array([f"{TIER_PRICE_PREFIX}{t}" for t in tiers], dtype=object)
    applies = (
        np.isin(np.char.lower(book.channel.astype(str)), wanted.astype(str))
        & ((book.store == "") | (book.store == (store_id or "")))
        & (book.start <= now)
        & (now < book.end)
    )
    rows = np.flatnonzero(applies)
    if rows.size == 0:
        return view
    best = pd.Series(book.price[rows]).groupby(book.item[rows]).min()
    items, tier_price = best.index.to_numpy(np.int64), best.to_numpy(np.float64)
    better = tier_price < view.price[items]
    if not better.any():
        return view
    items, tier_price = items[better], tier_price[better]
    price, list_price = view.price.copy(), view.list_price.copy()
    list_price[items] = np.where(np.isfinite(list_price[items]), list_price[items], price[items])
    price[items] = tier_price
    return PriceView(price, list_price)


def next_tier_facts(program: Loyalty, member: Member, purchases: int) -> tuple[Tier | None, list[str]]:
    """The next tier up and what separates the member from it ("3 purchases from Gold", "120
    points from Gold"); none when the programme lists no tier above theirs."""
    mine = rank(program, member.tier)
    if mine + 1 >= len(program.tiers):
        return None, []
    nxt = program.tiers[mine + 1]
    facts = []
    if nxt.min_purchases is not None and purchases < nxt.min_purchases:
        n = nxt.min_purchases - purchases
        facts.append(f"{n} purchase{'s' if n != 1 else ''} from {nxt.name}")
    if nxt.min_points is not None and member.points is not None and member.points < nxt.min_points:
        n = nxt.min_points - member.points
        facts.append(f"{n} point{'s' if n != 1 else ''} from {nxt.name}")
    return nxt, facts


def member_from_row(tier: object, points: object, joined: object) -> Member | None:
    """A member from a customer-table row's loyalty columns (None without a tier)."""
    if not isinstance(tier, str) or not tier.strip():
        return None
    pts = None if points is None or (isinstance(points, float) and math.isnan(points)) else int(points)
    when = None
    if joined is not None and not (isinstance(joined, float) and math.isnan(joined)) and joined is not pd.NaT:
        try:
            when = pd.Timestamp(joined).date()
        except (TypeError, ValueError):
            when = None
    return Member(tier.strip(), pts, when)
