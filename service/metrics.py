"""Prometheus metrics: request latency per route (prometheus-fastapi-instrumentator), search outcomes,
and the state of what is served, read from the serving reference at scrape time.

Each app has its own registry (tests build many apps in one process). With ``--workers N`` each
worker counts its own requests; set ``PROMETHEUS_MULTIPROC_DIR`` to aggregate them (the
instrumentator reads that directory), or scrape each worker.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI, Security
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator

from service.security import admin_scope


class ServingCollector(Collector):
    """Bundle version, catalog and index sizes, and how far this worker's live view is behind the store."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator:
        serving = getattr(self.app.state, "serving", None)
        if serving is None:
            return
        view = serving.view
        info = InfoMetricFamily("omnirank_bundle", "The bundle this worker serves.")
        info.add_metric([], {"version": view.bundle.version})
        yield info
        sizes = GaugeMetricFamily(
            "omnirank_index_items", "Items per index of the served view.", labels=["index"]
        )
        sizes.add_metric(["catalog"], len(view.catalog))
        sizes.add_metric(["vectors"], len(view.search.vectors))
        sizes.add_metric(["delta"], len(view.search.delta) if view.search.delta is not None else 0)
        yield sizes
        live_version, _ = serving.store.versions()
        lag = GaugeMetricFamily(
            "omnirank_live_lag_versions", "Live store writes not yet applied by this worker."
        )
        lag.add_metric([], live_version - view.overlay.version)
        yield lag
        refused = GaugeMetricFamily("omnirank_refused_bundles", "Bundles this worker refused to serve.")
        refused.add_metric([], len(serving.refusals))
        yield refused


class ServiceMetrics:
    def __init__(self, app: FastAPI) -> None:
        self.registry = CollectorRegistry()
        self.searches = Counter("omnirank_searches", "Searches answered.", registry=self.registry)
        self.zero_results = Counter(
            "omnirank_search_zero_results", "Searches that found nothing.", registry=self.registry
        )
        self.registry.register(ServingCollector(app))
        Instrumentator(
            registry=self.registry, excluded_handlers=["/metrics", "/health/live", "/health/ready"]
        ).instrument(app).expose(
            app, include_in_schema=True, tags=["health"], dependencies=[Security(admin_scope)]
        )
