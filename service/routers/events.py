"""Live events from every channel: validated per event, stored durably before the answer.

An event may name a product added since training (the live catalog accepts it at once) and carry
several identifiers; those are linked live (``service.identity``).
"""

from datetime import datetime, timezone

from fastapi import APIRouter, Body, Depends, HTTPException, Security
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from models.store import StoredEvent
from service.deps import get_now, get_settings, get_view
from service.identity import resolve
from service.schemas import EventIn, EventsResponse
from service.security import personalize_scope
from service.state import ServingView

router = APIRouter(prefix="/v1", tags=["events"])
MAX_BATCH = 5000


@router.post("/events", response_model=EventsResponse, status_code=202, dependencies=[Security(personalize_scope)])
def ingest_events(
    payload: dict = Body(..., examples=[{"events": [{"event_id": "e1", "type": "purchase", "timestamp": "2026-10-01T10:00:00Z",
                                                     "channel": "store", "sku": "SKU-1", "loyalty_id": "L123", "store_id": "S01"}]}]),
    state: ServingView = Depends(get_view),
    settings=Depends(get_settings),
    now: datetime = Depends(get_now),
):
    """Validate each event; store the valid ones durably before answering; reject the rest by index."""
    raw = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(raw, list) or not raw:
        raise HTTPException(422, "body must be {\"events\": [...]} with at least one event")
    if len(raw) > MAX_BATCH:
        raise HTTPException(413, f"at most {MAX_BATCH} events per batch, got {len(raw)}")
    rejected, stored = [], []
    for i, item in enumerate(raw):
        try:
            ev = EventIn.model_validate(item)
        except ValidationError as exc:
            rejected.append({"index": i, "reason": "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())})
            continue
        if ev.sku not in state.catalog.sku_index:
            rejected.append({"index": i, "reason": f"unknown sku {ev.sku!r}"})
            continue
        if ev.store_id is not None and not state.catalog.has_store(ev.store_id):
            rejected.append({"index": i, "reason": f"unknown store_id {ev.store_id!r}"})
            continue
        found = resolve(
            state,
            {"customer_id": ev.customer_id, "loyalty_id": ev.loyalty_id, "email": ev.email, "phone": ev.phone},
            settings.pii_salt,
            now.timestamp(),
        )
        if found is None:
            rejected.append({"index": i, "reason": "one valid customer_id, loyalty_id, email or phone is required"})
            continue
        key = found.key
        ts = ev.timestamp if ev.timestamp.tzinfo else ev.timestamp.replace(tzinfo=timezone.utc)
        stored.append(StoredEvent(ev.event_id, key, ev.type, ts, ev.channel, ev.sku, ev.store_id, ev.quantity, ev.price))
    result = state.store.append(stored) if stored else None
    body = EventsResponse(
        accepted=len(result.accepted) if result else 0,
        duplicates=len(result.duplicates) if result else 0,
        rejected=rejected,
    )
    status = 202 if stored or not rejected else 422
    return JSONResponse(status_code=status, content=body.model_dump())
