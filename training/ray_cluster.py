"""Connecting the heavy offline work (catalog embedding, batch campaigns) to Ray.

``--ray-address`` (or Ray's own ``RAY_ADDRESS``) names a running cluster (``ray://head:10001`` or
``head:6379``) and is passed to ``ray.init(address=...)`` unchanged; ``local`` starts a private
local cluster, as no address does. A session that is already initialised (a test, a notebook) is
reused and left running. How much runs at once is read from the cluster (``ray.cluster_resources()``),
never assumed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from models.errors import OmnirankError


class RayUnavailable(OmnirankError, RuntimeError):
    """Ray was asked for but is not installed."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - ray is a test dependency
        raise RayUnavailable(
            "this needs Ray: pip install 'omnirank[distributed]' (or drop --ray-address / --embed-workers)"
        ) from exc
    return ray


@contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[Any]:
    """``ray`` connected to ``address`` (a cluster), or to a local cluster of ``num_cpus`` CPUs
    (None: the machine's) when no address is given or it is ``local``; shut down on exit only if
    started here. ``num_cpus`` is ignored for a remote cluster: its own resources count."""
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        quiet = {"log_to_driver": False, "configure_logging": False}
        if address and address != "local":
            ray.init(address=address, **quiet)
        else:
            local = {"address": address} if address else {}
            ray.init(num_cpus=num_cpus, include_dashboard=False, **local, **quiet)
    try:
        yield ray
    finally:
        if started_here:
            ray.shutdown()


def cluster_cpus(ray: Any) -> int:
    """CPUs of the whole cluster (every node), as Ray schedules them; at least 1."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))
