"""Administration: the live merchandising rules (synonyms, pins, boosts, hides, redirects) and
bundle reloads.

A rules PUT is validated in full (structure, then every sku / brand / category / attribute against
the catalog being served), written atomically to the live rules file, and only then swapped into
the served view: the next search uses it, no retraining, and a rejected PUT leaves the old rules
active. Other worker processes pick the new file up on their next request (``Serving.refresh_rules``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Security
from fastapi.concurrency import run_in_threadpool

from models.rules import RuleSet
from service.deps import get_serving, get_view
from service.schemas import ReloadResponse
from service.security import admin_scope
from service.serving import Serving
from service.state import ServingView

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Security(admin_scope)])


@router.get("/rules", response_model=RuleSet)
def get_rules(view: ServingView = Depends(get_view)) -> RuleSet:
    return view.rules


@router.put(
    "/rules",
    response_model=RuleSet,
    responses={
        422: {"description": "The rules are invalid; the message names the rule. Old rules stay active."}
    },
)
def put_rules(
    rules: RuleSet, view: ServingView = Depends(get_view), serving: Serving = Depends(get_serving)
) -> RuleSet:
    problems = rules.problems(view.catalog)
    if problems:
        raise HTTPException(422, "; ".join(problems))
    serving.put_rules(rules)
    return rules


@router.post("/reload", response_model=ReloadResponse)
async def reload(serving: Serving = Depends(get_serving)) -> ReloadResponse:
    """Serve the bundle ``latest`` points at now (each worker also polls it). The new bundle is
    verified before it is swapped in; a bundle that fails is refused and the old one keeps serving.
    With several workers, this one answers; the others follow at their next poll."""
    outcome = await run_in_threadpool(serving.reload, True)
    return ReloadResponse(status=outcome.status, bundle_version=outcome.version, detail=outcome.detail)
