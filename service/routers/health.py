"""Health: public liveness and readiness probes, and the admin's detailed view."""

from fastapi import APIRouter, Depends, Security
from fastapi.responses import JSONResponse

from service.deps import get_serving
from service.schemas import Health, LiveStats, Probe, RefusedBundle
from service.security import admin_scope, public
from service.serving import Serving

router = APIRouter(tags=["health"])


@router.get("/health/live", response_model=Probe, dependencies=[Depends(public)])
async def live() -> Probe:
    """The process answers (a liveness probe: restart it when this fails)."""
    return Probe(status="ok")


@router.get(
    "/health/ready", response_model=Probe, responses={503: {"model": Probe}}, dependencies=[Depends(public)]
)
def ready(serving: Serving = Depends(get_serving)) -> Probe | JSONResponse:
    """A bundle is loaded and the store answers (a readiness probe: send traffic only when 200)."""
    try:
        serving.store.versions()
    except Exception as exc:  # any store failure means: not ready
        return JSONResponse(
            status_code=503,
            content=Probe(status="unavailable", detail=f"store: {type(exc).__name__}").model_dump(),
        )
    return Probe(status="ok", detail=f"bundle {serving.view.bundle.version}")


@router.get("/health", response_model=Health, dependencies=[Security(admin_scope)])
def health(serving: Serving = Depends(get_serving)) -> Health:
    view = serving.current()
    stats = view.overlay.stats
    return Health(
        status="ok",
        bundle_version=view.bundle.version,
        products=len(view.catalog),
        components=sorted(view.bundle.components),
        live=LiveStats(version=view.overlay.version, **vars(stats)),
        refused_bundles=[RefusedBundle(path=r.path, reason=r.reason, at=r.at) for r in serving.refusals],
    )
