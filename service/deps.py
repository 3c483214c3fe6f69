"""Dependencies shared by routers: the serving state and request-level validation helpers."""

from __future__ import annotations

import unicodedata

from fastapi import Depends, HTTPException, Request

from models.config import Settings
from service.state import ServingState


async def get_state(request: Request) -> ServingState:
    """The serving state, with the live rules brought up to date first (one ``stat``): a rules PUT
    answered by another worker process is in effect from this process's next request on.

    The dependencies here are ``async`` because they never wait: FastAPI runs a sync dependency in
    the thread pool, and each such hop costs more than the dependency itself under load."""
    state: ServingState = request.app.state.serving
    state.refresh_rules()
    return state


async def require_recs(state: ServingState = Depends(get_state)) -> ServingState:
    """The serving state of a bundle that has recommendation models; 503 for a search-only one.

    Why 503 and not 404: the route and the customer may well exist; this deployment cannot answer
    until a bundle trained on customer events is served.
    """
    if state.recs is None:
        raise HTTPException(
            503,
            f"bundle {state.bundle.version} is search-only (trained from a catalog without customer "
            "events): recommendations and customer profiles need a bundle trained with an events table",
        )
    return state


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def clean_text(value: str, field: str, max_chars: int, allow_empty: bool = False) -> str:
    """Reject what a search box should never send: control characters, undecodable bytes, 10 kB."""
    if len(value) > max_chars:
        raise HTTPException(422, f"{field} is {len(value)} characters long; the limit is {max_chars}")
    if "\ufffd" in value:
        raise HTTPException(422, f"{field} is not valid UTF-8")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise HTTPException(422, f"{field} contains control characters")
    value = " ".join(value.split())
    if not value and not allow_empty:
        raise HTTPException(422, f"{field} must not be empty")
    return value


def check_store(state: ServingState, store_id: str | None) -> None:
    if store_id is not None and not state.catalog.has_store(store_id):
        raise HTTPException(404, f"unknown store_id {store_id!r}; known stores: {state.catalog.store_ids}")


def item_of(state: ServingState, sku: str) -> int:
    item = state.catalog.sku_index.get(sku)
    if item is None:
        raise HTTPException(404, f"unknown sku {sku!r}")
    return item


def resolve_identifier(state: ServingState, settings: Settings, identifier: str) -> tuple[str, bool]:
    """(customer key, known) for a customer id, loyalty id, email or phone.

    An identifier never seen before still gets a stable key (its salted hash), so events of a
    first-time visitor accumulate under one key until the next training run merges them.
    """
    from models.pii import identifier_key

    if identifier in state.customers.index:
        return identifier, True
    kinds = ("email",) if "@" in identifier else ("loyalty_id", "phone")
    for kind in kinds:
        key = identifier_key(kind, identifier, settings.pii_salt)
        if key is not None and key in state.identity:
            return state.identity[key], True
    for kind in kinds:
        key = identifier_key(kind, identifier, settings.pii_salt)
        if key is not None:
            return key, False
    return identifier, False
