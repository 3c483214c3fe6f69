"""A/B tests of models: two bundles served at once, each shopper always in the same arm.

Arm A is the bundle ``latest`` points at (swapped in by the watcher as usual); arm B is the bundle
named by ``OMNIRANK_EXPERIMENT_BUNDLE``, pinned for the test. A shopper's arm is a stable hash of the
experiment name and their unit (``models.abtest.assign_arm``): the customer id of the request when it
names one, else its session id (``session_id`` query parameter or ``X-Session-ID`` header); a request
with neither is arm A, so anonymous traffic never dilutes a test. Both arms read the same live store
(stock, prices, events), so they differ only by their models. Every answer says its arm
(``service/impressions.py``), and ``omnirank ab-report`` compares the arms from the store.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from models.abtest import assign_arm
from models.config import Settings
from service.serving import Serving

SESSION_HEADER = "X-Session-ID"


def unit_of(request: Request) -> str | None:
    """The shopper a request is for: a customer id (path or query), else a session id."""
    customer = request.path_params.get("customer_id") or request.query_params.get("customer_id")
    if customer:
        return f"customer:{customer}"
    session = request.query_params.get("session_id") or request.headers.get(SESSION_HEADER)
    return f"session:{session}" if session else None


@dataclass
class Arms:
    """The serving of each arm; ``b`` is ``None`` when no experiment runs."""

    a: Serving
    b: Serving | None
    name: str
    split_b: float

    @classmethod
    def start(cls, settings: Settings, a: Serving) -> Arms:
        b = None
        if settings.experiment_bundle is not None:
            b = Serving.pinned(settings, a.store, settings.experiment_bundle, a.clock)
        return cls(a, b, settings.experiment_name, settings.experiment_split)

    def pick(self, request: Request) -> Serving:
        """The arm's serving for this request; records the arm and unit on the request's state."""
        unit = unit_of(request)
        arm = "A" if self.b is None or unit is None else assign_arm(unit, self.name, self.split_b)
        state = request.scope.setdefault("state", {})
        state["arm"], state["unit"] = arm, unit
        return self.b if arm == "B" and self.b is not None else self.a

    def describe(self) -> dict:
        if self.b is None:
            return {"running": False}
        return {
            "running": True,
            "name": self.name,
            "split_b": self.split_b,
            "a": self.a.view.bundle.version,
            "b": self.b.view.bundle.version,
        }
