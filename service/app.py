"""The FastAPI application factory: ``create_app(settings, clock)`` loads the bundle in the lifespan
and starts the watcher that swaps in new bundles (``service/serving.py``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from models.bundle import BundleError
from models.clock import Clock, system_clock
from models.config import Settings
from service.docs import serve_offline_docs
from service.experiment import Arms
from service.impressions import ImpressionLog
from service.limits import RequestLimits, document_errors
from service.logs import REQUEST_ID_HEADER, RequestLog, configure_logging
from service.metrics import ServiceMetrics
from service.routers import (
    admin,
    customers,
    events,
    health,
    live,
    loyalty,
    recommendations,
    search,
    stores,
    suggest,
)
from service.routers.pages import serve_pages
from service.serving import BundleWatcher, Refusal, Serving
from service.state import BundleView
from service.worker_header import WorkerHeader

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    clock: Clock = system_clock,
    preloaded: BundleView | None = None,
    refusals: Sequence[Refusal] = (),
) -> FastAPI:
    """The service. ``preloaded``: the bundle a pre-fork master loaded before forking this worker
    (service.prefork); the master then watches ``latest`` and rolls the workers over, so they do not.
    ``refusals``: bundles that master would not load, for ``/health``."""
    settings = settings or Settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.settings = settings
        app.state.serving = serving = Serving.start(settings, clock, preloaded)
        serving.refusals = [*refusals, *serving.refusals]
        try:
            app.state.arms = arms = Arms.start(settings, serving)
        except BaseException:
            serving.close()
            raise
        app.state.impressions = impressions = ImpressionLog(
            serving.store, settings.impressions_flush_seconds
        ).start()
        watcher = (
            BundleWatcher(serving, settings.reload_poll_seconds)
            if settings.reload_poll_seconds > 0 and preloaded is None
            else None
        )
        if watcher is not None:
            watcher.start()
        yield
        if watcher is not None:
            watcher.stop()
        impressions.close()
        if arms.b is not None:
            arms.b.close()
        serving.close()

    app = FastAPI(
        title="omnirank",
        version="0.1.0",
        description="Search and recommendations for every channel of an omnichannel retailer.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load Swagger UI / ReDoc from a CDN: see service/docs.py
        redoc_url=None,
    )
    serve_offline_docs(app)
    app.add_middleware(RequestLimits, **RequestLimits.options(settings))  # 431, 503 when busy, 413
    app.add_middleware(WorkerHeader)
    if settings.cors_origins:
        # Browsers on these origins may call the API; what each call may do is still the key's scope.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    app.add_middleware(RequestLog)  # outermost: every answer, errors included, has a request id
    app.state.metrics = ServiceMetrics(app)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        """A bug: logged with its traceback (redacted), answered without internals."""
        request_id = request.scope.get("state", {}).get("request_id", "")
        logger.exception("unhandled error in %s", getattr(request.scope.get("route"), "path", "?"))
        return JSONResponse(
            status_code=500,
            content={"detail": "internal error; quote the request id", "request_id": request_id},
            headers={REQUEST_ID_HEADER: request_id},
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        message = "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in details)
        return JSONResponse(status_code=422, content={"detail": message, "errors": details})

    @app.exception_handler(BundleError)
    async def bundle_error(request: Request, exc: BundleError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    for router in (health.router, search.router, recommendations.router, events.router, customers.router):
        app.include_router(router)
    for router in (suggest.router, live.router, admin.router, stores.router, loyalty.router):
        app.include_router(router)
    serve_pages(app)  # /, /associate, /admin, /report: static pages calling the API above
    document_errors(app)  # every error answer in the OpenAPI schema
    return app
