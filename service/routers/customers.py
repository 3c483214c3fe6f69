"""The associate's view of one person across channels: masked ids, timeline, offers in stock here."""

from datetime import datetime, timezone

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Security

from models.recommend import Context
from models.store.analytics_tables import ConsentStatement
from service.deps import check_store, get_language, get_now, get_settings, get_view, require_recs
from service.history import customer_history, render
from service.identity import Resolved, identifier_hashes, resolve
from service.impressions import answered
from service.loyalty import context, loyalty_out, promoted, shopper, shopper_prices
from service.products import optional_text, product
from service.schemas import ConsentIn, ConsentResponse, CustomerLookup, ProfileResponse, TimelineEntry
from service.security import AssociateKey, personalize_scope
from service.state import ServingView

router = APIRouter(prefix="/v1/customers", tags=["customers"])
NOT_FOUND = "no customer with that loyalty id, email, phone or customer id"


def build_profile(
    request: Request,
    state: ServingView,
    found: Resolved,
    store_id: str | None,
    k: int,
    now: datetime,
    lang: str = "en",
) -> ProfileResponse:
    check_store(state, store_id)
    key = found.key
    history, live = customer_history(state, key)
    if not found.known and not history:
        raise HTTPException(404, NOT_FOUND)
    info = state.customers.loc[key] if key in state.customers.index else None
    ctx = Context(
        channel="store" if store_id else "web", store_id=store_id, now=pd.Timestamp(now), customer_id=key
    )
    row = state.recs.history_row(key, live, state.type_weights)
    who = shopper(state, key)
    ctx = context(state, "customer", ctx, who)
    offers, _ = state.recs.for_customer(row, history, ctx, k)
    prices = shopper_prices(state, ctx.channel, store_id, now, who.member)
    offers = promoted(state, "customer", offers, ctx, prices, k, who)
    timeline = [
        TimelineEntry(
            timestamp=e.timestamp.to_pydatetime(),
            type=e.type,
            channel=e.channel,
            store_id=e.store_id,
            quantity=e.quantity,
            price_paid=e.price,
            product=product(state, e.item, prices),
        )
        for e in sorted(history, key=lambda e: e.timestamp, reverse=True)[:50]
    ]
    masked = {
        f: None if info is None else optional_text(info.get(f))
        for f in ("masked_loyalty_id", "masked_email", "masked_phone")
    }
    rendered = render(state, offers, prices, store_id, lang)
    meta = answered(request, "customer", [o.product.sku for o in rendered])
    return ProfileResponse(
        request_id=meta.request_id,
        arm=meta.arm,
        customer_id=key,
        **masked,
        top_categories=state.affinity.get(key, {}),
        timeline=timeline,
        offers=rendered,
        loyalty=loyalty_out(state, who.member, history, lang),
    )


@router.post(
    "/consent", response_model=ConsentResponse, status_code=202, dependencies=[Security(personalize_scope)]
)
def consent(
    body: ConsentIn,
    state: ServingView = Depends(get_view),
    settings=Depends(get_settings),
    now: datetime = Depends(get_now),
) -> ConsentResponse:
    """Record an unsubscribe or an opt-in (stored durably before the answer): the next batch email
    job honours it (``batch-recommend --store``), whatever the bundle was trained with. Stored per
    salted identifier hash, never the raw address."""
    keys = identifier_hashes(body.identifiers(), settings.pii_salt)
    if not keys:
        raise HTTPException(422, "give at least one valid customer_id, loyalty_id, email or phone")
    at = body.at if body.at is not None else now
    stated = (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).timestamp()  # naive: UTC
    if stated > now.timestamp() + 300:
        raise HTTPException(422, "at is in the future")
    statements = [ConsentStatement(h, kind, body.email_consent, stated) for kind, h in keys.items()]
    recorded = state.store.record_consent(statements, now.timestamp())
    return ConsentResponse(recorded=recorded, email_consent=body.email_consent)


@router.get("/{customer_id}/profile", response_model=ProfileResponse)
def profile(
    customer_id: str,
    request: Request,
    principal: AssociateKey,
    store_id: str | None = Query(None, description="The associate's store: offers are in stock here."),
    k: int = Query(10, ge=1, le=50),
    state: ServingView = Depends(require_recs),
    now: datetime = Depends(get_now),
    lang: str = Depends(get_language),
) -> ProfileResponse:
    """The profile by the opaque ``customer_id`` other answers give (a lookup answer, a
    recommendation response). Loyalty ids, emails and phones never travel in a URL (URLs end up in
    proxies' and browsers' logs): look a person up by those with ``POST /v1/customers/lookup``."""
    store_id = principal.store_for(store_id)
    known = customer_id in state.customers.index
    return build_profile(request, state, Resolved(customer_id, known), store_id, k, now, lang)


@router.post("/lookup", response_model=ProfileResponse)
def lookup(
    body: CustomerLookup,
    request: Request,
    principal: AssociateKey,
    state: ServingView = Depends(require_recs),
    settings=Depends(get_settings),
    now: datetime = Depends(get_now),
    lang: str = Depends(get_language),
) -> ProfileResponse:
    """The profile by any identifiers the customer gives (in the body, never in a URL). Given two
    (the card and the email said at the till), they are linked now: the web history of the card
    holder shows at once, without waiting for the next training."""
    store_id = principal.store_for(body.store_id)
    found = resolve(state, identifier_hashes(body.identifiers(), settings.pii_salt), now.timestamp())
    if found is None:
        raise HTTPException(422, "give at least one valid customer_id, loyalty_id, email or phone")
    return build_profile(request, state, found, store_id, body.k, now, lang)
