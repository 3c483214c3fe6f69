from fastapi import APIRouter, Depends

from service.deps import get_state
from service.schemas import Health
from service.state import ServingState

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(state: ServingState = Depends(get_state)) -> Health:
    return Health(status="ok", bundle_version=state.bundle.version, products=len(state.catalog), components=sorted(state.bundle.components))
