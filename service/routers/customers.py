"""The associate's view of one person across channels: masked ids, timeline, offers in stock here."""

from datetime import datetime

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query

from models.recommend import Context
from service.deps import check_store, get_now, get_settings, require_recs
from service.identity import Resolved, resolve
from service.products import optional_text, prices_for, product
from service.routers.recommendations import customer_history, render
from service.schemas import CustomerLookup, ProfileResponse, TimelineEntry
from service.security import AssociateKey
from service.state import ServingView

router = APIRouter(prefix="/v1/customers", tags=["customers"])
NOT_FOUND = "no customer with that loyalty id, email, phone or customer id"


def build_profile(
    state: ServingView, found: Resolved, store_id: str | None, k: int, now: datetime
) -> ProfileResponse:
    check_store(state, store_id)
    key = found.key
    history, live = customer_history(state, key)
    if not found.known and not history:
        raise HTTPException(404, NOT_FOUND)
    info = state.customers.loc[key] if key in state.customers.index else None
    ctx = Context(channel="store" if store_id else "web", store_id=store_id, now=pd.Timestamp(now))
    row = state.recs.history_row(key, live, state.type_weights)
    offers, _ = state.recs.for_customer(row, history, ctx, k)
    prices = prices_for(state, ctx.channel, store_id, now)
    timeline = [
        TimelineEntry(
            timestamp=e.timestamp.to_pydatetime(),
            type=e.type,
            channel=e.channel,
            store_id=e.store_id,
            product=product(state, e.item, prices),
        )
        for e in sorted(history, key=lambda e: e.timestamp, reverse=True)[:50]
    ]
    masked = {
        f: None if info is None else optional_text(info.get(f))
        for f in ("masked_loyalty_id", "masked_email", "masked_phone")
    }
    return ProfileResponse(
        customer_id=key,
        **masked,
        top_categories=state.affinity.get(key, {}),
        timeline=timeline,
        offers=render(state, offers, prices, store_id),
    )


@router.get("/{customer_id}/profile", response_model=ProfileResponse)
def profile(
    customer_id: str,
    principal: AssociateKey,
    store_id: str | None = Query(None, description="The associate's store: offers are in stock here."),
    k: int = Query(10, ge=1, le=50),
    state: ServingView = Depends(require_recs),
    now: datetime = Depends(get_now),
) -> ProfileResponse:
    """The profile by the opaque ``customer_id`` other answers give (a lookup answer, a
    recommendation response). Loyalty ids, emails and phones never travel in a URL (URLs end up in
    proxies' and browsers' logs): look a person up by those with ``POST /v1/customers/lookup``."""
    store_id = principal.store_for(store_id)
    known = customer_id in state.customers.index
    return build_profile(state, Resolved(customer_id, known), store_id, k, now)


@router.post("/lookup", response_model=ProfileResponse)
def lookup(
    body: CustomerLookup,
    principal: AssociateKey,
    state: ServingView = Depends(require_recs),
    settings=Depends(get_settings),
    now: datetime = Depends(get_now),
) -> ProfileResponse:
    """The profile by any identifiers the customer gives (in the body, never in a URL). Given two
    (the card and the email said at the till), they are linked now: the web history of the card
    holder shows at once, without waiting for the next training."""
    store_id = principal.store_for(body.store_id)
    found = resolve(state, body.identifiers(), settings.pii_salt, now.timestamp())
    if found is None:
        raise HTTPException(422, "give at least one valid customer_id, loyalty_id, email or phone")
    return build_profile(state, found, store_id, body.k, now)
