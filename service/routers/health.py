from fastapi import APIRouter, Depends

from service.deps import get_serving
from service.schemas import Health, LiveStats, RefusedBundle
from service.serving import Serving

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
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
