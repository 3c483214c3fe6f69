from dataclasses import replace
from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from models import i18n
from models.search_engine import SearchFilters
from service.deps import check_store, clean_text, get_language, get_now, get_settings, get_view
from service.identity import resolve_one
from service.impressions import answered
from service.loyalty import shopper, shopper_prices
from service.products import product
from service.schemas import Channel, SearchHitOut, SearchResponse
from service.security import SearchKey
from service.state import ServingView

router = APIRouter(prefix="/v1", tags=["search"])
KNOWN_PARAMS = {
    "q",
    "k",
    "page",
    "category",
    "brand",
    "color",
    "size",
    "price_min",
    "price_max",
    "store_id",
    "channel",
    "customer_id",
    "session_id",
    "lang",
}


@router.get("/search", response_model=SearchResponse)
def search(
    q: str = Query(..., description="What the shopper typed.", examples=["gift for dad under 50"]),
    k: int = Query(20, ge=1, le=100),
    page: int = Query(1, ge=1, le=1000),
    category: str | None = None,
    brand: str | None = None,
    color: str | None = None,
    size: str | None = None,
    price_min: float | None = Query(None, ge=0),
    price_max: float | None = Query(None, ge=0),
    store_id: str | None = Query(None, description="Only products in stock in this store."),
    channel: Channel | None = None,
    customer_id: str | None = Query(None, description="Re-rank by this customer's cross-channel affinity."),
    session_id: str | None = Query(
        None, max_length=128, description="The shopper's session (A/B arm of a guest; or X-Session-ID)."
    ),
    request: Request = None,
    principal: SearchKey = None,
    state: ServingView = Depends(get_view),
    settings=Depends(get_settings),
    now: datetime = Depends(get_now),
    lang: str = Depends(get_language),
) -> SearchResponse:
    unknown = sorted(set(request.query_params) - KNOWN_PARAMS)
    if unknown:
        raise HTTPException(422, f"unknown parameter(s) {unknown}; known: {sorted(KNOWN_PARAMS)}")
    if customer_id is not None and not principal.allows("personalize"):
        raise HTTPException(403, "personalising search by customer_id needs a personalize key")
    q = clean_text(q, "q", settings.max_query_chars)
    check_store(state, store_id)
    if price_min is not None and price_max is not None and price_min > price_max:
        raise HTTPException(422, "price_min must not exceed price_max")
    filters = SearchFilters(category, brand, color, size, price_min, price_max, store_id, channel)
    affinity = state.affinity.get(customer_id) if customer_id else None
    who = shopper(state, resolve_one(state, customer_id, settings.pii_salt).key if customer_id else None)
    if who.hidden is not None:  # member-only products above this shopper's tier: never shown
        filters = replace(filters, hidden=who.hidden)
    prices = shopper_prices(state, channel, store_id, now, who.member)
    result = state.search.search(q, k=k, page=page, filters=filters, affinity=affinity, prices=prices.price)
    metrics = request.app.state.metrics
    metrics.searches.inc()
    if result.total == 0 or result.low_confidence:  # a weak guess is no success either
        metrics.zero_results.inc()
    hits = [
        SearchHitOut(
            product=product(state, h.item, prices, store_id),
            score=h.score,
            bm25=h.bm25,
            dense=h.dense,
            matches=h.matches,
        )
        for h in result.hits
    ]
    meta = answered(request, "search", [h.product.sku for h in hits], query=q)
    return SearchResponse(
        request_id=meta.request_id,
        arm=meta.arm,
        query=q,
        total=result.total,
        page=page,
        k=k,
        hits=hits,
        intent=result.intent.model_dump(),
        intent_label=i18n.intent_label(result.intent, lang),
        language=lang,
        low_confidence=result.low_confidence,
        applied_filters=result.applied_filters,
        facets=result.facets,
        did_you_mean=result.did_you_mean,
        relaxed=[i18n.sentence(note, lang) for note in result.relaxed],
        relaxed_from=result.relaxed_from,
        personalised=result.personalised,
        rules_fired=result.rules_fired,
        redirect=result.redirect,
    )
