"""Who is shopping, as loyalty sees them: the member (tier, points, joined), what they may see
(member-only products), what they pay (member prices), and the rules of each surface."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import pandas as pd

from models import i18n
from models.live.prices import PriceView
from models.loyalty import (
    Member,
    hidden_products,
    member_from_row,
    member_prices,
    next_tier_facts,
    unlocked_products,
    unlocked_tiers,
)
from models.promotions import boost_member_offers, promote, signals
from models.recommend import Context, Recommendation
from service.products import prices_for
from service.schemas import LoyaltyOut
from service.state import ServingView

LOYALTY_COLUMNS = ("loyalty_tier", "loyalty_points", "loyalty_joined")


def member_of(view: ServingView, key: str | None) -> Member | None:
    """The member behind a customer key: the live membership (``PUT /v1/customers/loyalty``) of the
    key or of an identifier linked to it, else the bundle's imported loyalty columns."""
    if not key:
        return None
    live = view.store.membership([key, *view.store.aliases(key)])
    if live is not None:
        joined = pd.Timestamp(live.joined).date() if live.joined else None
        return Member(live.tier, live.points, joined)
    customers = view.customers
    if key in customers.index and "loyalty_tier" in customers.columns:
        row = customers.loc[key]
        return member_from_row(row.get("loyalty_tier"), row.get("loyalty_points"), row.get("loyalty_joined"))
    return None


@dataclass(frozen=True)
class Shopper:
    member: Member | None
    hidden: np.ndarray | None  # member-only products this shopper may not see


def shopper(view: ServingView, key: str | None) -> Shopper:
    member = member_of(view, key)
    return Shopper(member, hidden_products(view.catalog, view.rules.loyalty, member))


def shopper_prices(
    view: ServingView, channel: str | None, store_id: str | None, now: datetime, member: Member | None
) -> PriceView:
    """The live prices for this shopper: the public ones, with their tier's member prices."""
    public = prices_for(view, channel, store_id, now)
    tiers = unlocked_tiers(view.rules.loyalty, member)
    if not tiers:
        return public
    channel = channel or ("store" if store_id else "web")
    return member_prices(view.catalog.price_book, public, channel, store_id, now.timestamp(), tiers)


def context(view: ServingView, surface: str, ctx: Context, who: Shopper) -> Context:
    """``ctx`` with what this list must never show: member-only products above the shopper's tier
    and the surface's hide rules."""
    hidden = who.hidden
    ruled = view.rules.hidden(surface, view.catalog)
    if ruled is not None:
        hidden = ruled if hidden is None else (hidden | ruled)
    if hidden is None:
        return ctx
    return replace(ctx, hidden=hidden)


def promoted(
    view: ServingView,
    surface: str,
    recs: list[Recommendation],
    ctx: Context,
    prices: PriceView,
    k: int,
    who: Shopper | None = None,
) -> list[Recommendation]:
    """The surface's rules on a finished list (pins only where ``ctx`` allows them); with ``who`` a
    member, the member-only products their tier unlocks boosted first (reason ``member_offer``)."""
    if who is not None and who.member is not None:
        program = view.rules.loyalty
        unlocked = unlocked_products(view.catalog, program, who.member)
        recs = boost_member_offers(recs, unlocked, program.member_offer_boost, who.member.tier)
    if view.recs is None or not view.rules.for_surface(surface):
        return recs[:k]
    allowed = view.recs.eligible(ctx)
    out, _ = promote(
        view.rules,
        surface,
        recs,
        view.catalog,
        allowed,
        signals(view.catalog, prices, ctx.now, view.recs.n_trained),
        k,
    )
    return out


def loyalty_out(view: ServingView, member: Member | None, history: list, lang: str) -> LoyaltyOut | None:
    """The profile's loyalty block: tier, points, joined, and how far the next tier is (purchases
    counted from the person's history across channels, returns not deducted)."""
    if member is None:
        return None
    purchases = sum(1 for e in history if e.type == "purchase")
    nxt, facts = next_tier_facts(view.rules.loyalty, member, purchases)
    return LoyaltyOut(
        tier=member.tier,
        points=member.points,
        joined=member.joined,
        next_tier=None if nxt is None else nxt.name,
        facts=[i18n.sentence(f, lang) for f in facts],
    )
