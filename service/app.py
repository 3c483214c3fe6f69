"""The FastAPI application factory: ``create_app(settings, clock)`` loads the bundle in the lifespan
and starts the watcher that swaps in new bundles (``service/serving.py``)."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from models.bundle import BundleError
from models.clock import Clock, system_clock
from models.config import Settings
from service.routers import admin, customers, events, health, live, recommendations, search, suggest
from service.serving import BundleWatcher, Serving
from service.worker_header import WorkerHeader


def create_app(settings: Settings | None = None, clock: Clock = system_clock) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.settings = settings
        app.state.serving = serving = Serving.start(settings, clock)
        watcher = BundleWatcher(serving, settings.reload_poll_seconds) if settings.reload_poll_seconds > 0 else None
        if watcher is not None:
            watcher.start()
        yield
        if watcher is not None:
            watcher.stop()
        serving.close()

    app = FastAPI(
        title="omnirank",
        version="0.1.0",
        description="Search and recommendations for every channel of an omnichannel retailer.",
        lifespan=lifespan,
    )
    app.add_middleware(WorkerHeader)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        message = "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in details)
        return JSONResponse(status_code=422, content={"detail": message, "errors": details})

    @app.exception_handler(BundleError)
    async def bundle_error(request: Request, exc: BundleError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    for router in (health.router, search.router, recommendations.router, events.router, customers.router):
        app.include_router(router)
    for router in (suggest.router, live.router, admin.router):
        app.include_router(router)
    return app
