"""Loyalty memberships between trainings: ``PUT /v1/customers/loyalty`` (the loyalty system's feed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Security
from fastapi.responses import JSONResponse

from models.pii import identifier_key
from models.store.loyalty_tables import Membership
from service.deps import get_now, get_serving, get_settings, get_view
from service.routers.live import _validated
from service.schemas import LiveUpdateResponse, LoyaltyIn, rows_body
from service.security import admin_scope
from service.serving import Serving
from service.state import ServingView

router = APIRouter(prefix="/v1/customers", tags=["customers"])
MAX_LOYALTY_ROWS = 100_000


@router.put(
    "/loyalty",
    response_model=LiveUpdateResponse,
    responses={422: {"model": LiveUpdateResponse}},
    dependencies=[Security(admin_scope)],
    openapi_extra=rows_body(LoyaltyIn, MAX_LOYALTY_ROWS),
)
def put_loyalty(
    rows: list[Any] = Body(
        ...,
        examples=[[{"loyalty_id": "LY510877278", "tier": "gold", "points": 1840, "joined": "2024-03-01"}]],
    ),
    view: ServingView = Depends(get_view),
    serving: Serving = Depends(get_serving),
    settings=Depends(get_settings),
    now: datetime = Depends(get_now),
) -> JSONResponse:
    """Members' tier, points balance and joined date, by loyalty card (stored under the card's
    salted hash, never the number). The latest write of a card wins over the imported columns; the
    profile and search for that member read it from the next request on. An admin key: this is the
    loyalty system's feed, like the other live PUTs."""
    tiers = [t.name.casefold() for t in view.rules.loyalty.tiers]

    def check(row: LoyaltyIn) -> str | None:
        if identifier_key("loyalty_id", row.loyalty_id, settings.pii_salt) is None:
            return f"loyalty_id {row.loyalty_id!r} is not a valid loyalty id"
        if tiers and row.tier.casefold() not in tiers:
            return f"unknown loyalty tier {row.tier!r}; the rules file's loyalty tiers are {tiers}"
        if row.joined is not None and row.joined > now.date():
            return f"joined {row.joined} is in the future"
        return None

    good, rejected = _validated(rows, LoyaltyIn, check, MAX_LOYALTY_ROWS)
    memberships = []
    for _, r in good:
        card = identifier_key("loyalty_id", r.loyalty_id, settings.pii_salt)
        customer = view.identity.get(card) or view.store.linked_customers([card]).get(card) or card
        memberships.append(
            Membership(card, customer, r.tier, r.points, None if r.joined is None else r.joined.isoformat())
        )
    written = serving.store.put_loyalty(memberships, now.timestamp()) if memberships else 0
    body = LiveUpdateResponse(applied=written, rejected=rejected, version=view.overlay.version)
    return JSONResponse(status_code=200 if written or not rejected else 422, content=body.model_dump())
