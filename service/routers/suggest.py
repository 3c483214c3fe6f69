"""Search-as-you-type: completions for what the shopper has typed so far."""

from fastapi import APIRouter, HTTPException, Query, Request, Security

from service.deps import clean_text
from service.impressions import answered
from service.schemas import SuggestionOut, SuggestResponse
from service.security import search_scope

router = APIRouter(prefix="/v1", tags=["search"])


# ``async`` and no ``def`` dependencies: a lookup takes microseconds, so the thread-pool hops that
# sync handlers and sync dependencies cost would be most of the latency (called on every keystroke).
@router.get("/suggest", response_model=SuggestResponse, dependencies=[Security(search_scope)])
async def suggest(
    request: Request,
    q: str = Query(..., description="What the shopper has typed so far.", examples=["runn"]),
    k: int = Query(10, ge=1, description="How many completions (at most the bundle's max_k, 20 by default)."),
) -> SuggestResponse:
    settings = request.app.state.settings
    state = request.app.state.arms.pick(request).view  # no refresh: a keystroke must not wait on the store
    raw = clean_text(q, "q", settings.max_query_chars)
    prefix = f"{raw} " if q[-1:].isspace() else raw  # "red " means the word "red" is complete
    suggester = state.suggester
    if suggester is None:
        raise HTTPException(503, "suggestions are not loaded")
    if k > suggester.max_k:
        raise HTTPException(422, f"k is {k}; the limit is {suggester.max_k}")
    catalog = state.catalog
    if catalog.all_active:
        found = suggester.suggest(prefix, k)
    else:  # a product discontinued since training is in no answer: ask for more, drop it
        found = [
            s for s in suggester.suggest(prefix, suggester.max_k) if s.sku is None or catalog.is_active(s.sku)
        ][:k]
    meta = answered(request, "suggest", [s.sku for s in found if s.sku], query=raw)
    return SuggestResponse(
        request_id=meta.request_id,
        arm=meta.arm,
        query=raw,
        suggestions=[SuggestionOut(text=s.text, kind=s.kind, score=s.score, sku=s.sku) for s in found],
    )
