from fastapi import APIRouter, Depends, HTTPException, Query

from models.recommend import Context
from service.deps import check_store, get_settings, require_recs, resolve_identifier
from service.products import optional_text, product
from service.routers.recommendations import _out, customer_history
from service.schemas import ProfileResponse, TimelineEntry
from service.state import ServingState

router = APIRouter(prefix="/v1/customers", tags=["customers"])


@router.get("/{identifier}/profile", response_model=ProfileResponse)
def profile(
    identifier: str,
    store_id: str | None = Query(None, description="The associate's store: offers are in stock here."),
    k: int = Query(10, ge=1, le=50),
    state: ServingState = Depends(require_recs),
    settings=Depends(get_settings),
) -> ProfileResponse:
    """The associate's view: one person across channels, masked ids, timeline and what to offer."""
    check_store(state, store_id)
    key, known = resolve_identifier(state, settings, identifier)
    history, live = customer_history(state, key)
    if not known and not history:
        raise HTTPException(404, "no customer with that loyalty id, email, phone or customer id")
    info = state.customers.loc[key] if key in state.customers.index else None
    ctx = Context(channel="store" if store_id else "web", store_id=store_id)
    row = state.recs.history_row(key, live, state.type_weights)
    offers, _ = state.recs.for_customer(row, history, ctx, k)
    timeline = [
        TimelineEntry(timestamp=e.timestamp.to_pydatetime(), type=e.type, channel=e.channel, product=product(state, e.item))
        for e in sorted(history, key=lambda e: e.timestamp, reverse=True)[:50]
    ]
    masked = {f: None if info is None else optional_text(info.get(f)) for f in ("masked_loyalty_id", "masked_email", "masked_phone")}
    return ProfileResponse(
        customer_id=key,
        **masked,
        top_categories=state.affinity.get(key, {}),
        timeline=timeline,
        offers=_out(state, offers, store_id),
    )
