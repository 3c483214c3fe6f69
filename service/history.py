"""A customer's history as served (trained plus live) and a list rendered for the answer: what the
recommendation and customer-profile routes share."""

from __future__ import annotations

import pandas as pd

from models import i18n
from models.history import Interaction
from models.live.prices import PriceView
from models.recommend import Recommendation
from service.products import product
from service.schemas import RecommendationOut
from service.state import ServingView


def render(
    view: ServingView,
    recs: list[Recommendation],
    prices: PriceView,
    store_id: str | None,
    lang: str = i18n.DEFAULT,
) -> list[RecommendationOut]:
    return [
        RecommendationOut(
            product=product(view, r.item, prices, store_id),
            score=r.score,
            reason_code=r.reason_code,
            reason=i18n.sentence(r.reason, lang),
        )
        for r in recs
    ]


def customer_history(view: ServingView, customer_key: str) -> tuple[list[Interaction], list[Interaction]]:
    """(all known interactions, those received live since training) for one customer, including
    events stored under identifiers linked to them live (first seen alone, linked later)."""
    trained = view.history.get(customer_key, [])
    keys = [customer_key, *view.store.aliases(customer_key)]
    events = [ev for events in view.store.recent_for_customers(keys, limit=500).values() for ev in events]
    live = []
    for ev in sorted(events, key=lambda e: (e.timestamp, e.event_id)):
        item = view.catalog.sku_index.get(ev.sku or "")
        if item is not None:
            live.append(
                Interaction(
                    item,
                    ev.type,
                    pd.Timestamp(ev.timestamp),
                    ev.channel,
                    1.0,
                    ev.store_id,
                    quantity=ev.quantity,
                    price=ev.price,
                )
            )
    return trained + live, live
