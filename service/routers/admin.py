"""Merchandising administration: read and replace the live rules (synonyms, pins, boosts, hides, redirects).

A PUT is validated in full (structure, then every sku / brand / category / attribute against the
catalog being served), written atomically to the live rules file, and only then swapped into the
search engine: the next search uses it, no retraining, and a rejected PUT leaves the old rules active.
Other worker processes pick the new file up on their next request (``ServingState.refresh_rules``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException

from models.rules import RuleSet
from service.deps import get_state
from service.state import ServingState


def require_admin() -> None:
    """Authorisation hook for every admin route. It allows all callers for now: API keys arrive in a
    later issue and will be checked here (raise HTTPException(401/403)), so deploy the admin routes
    behind a private network until then."""
    return None


router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])


@router.get("/rules", response_model=RuleSet)
def get_rules(state: ServingState = Depends(get_state)) -> RuleSet:
    return state.search.rules or RuleSet()


@router.put(
    "/rules",
    response_model=RuleSet,
    responses={
        422: {"description": "The rules are invalid; the message names the rule. Old rules stay active."}
    },
)
def put_rules(rules: RuleSet, state: ServingState = Depends(get_state)) -> RuleSet:
    problems = rules.problems(state.catalog)
    if problems:
        raise HTTPException(422, "; ".join(problems))
    if state.rules_path is None:
        raise HTTPException(503, "the service has no rules file configured")
    with state.rules_lock:  # file and memory change together, one writer at a time
        rules.save(state.rules_path)
        state.search.rules = rules
    return rules
