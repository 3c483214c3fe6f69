"""``omnirank serve --workers N`` (N > 1): one bundle in memory for all workers, by loading it before forking.

Why: uvicorn's own ``--workers`` *spawns* fresh interpreters, and each imports the libraries and
loads the bundle again: at the sample scale ~370 MiB per worker, of which only the memory-mapped
arrays were shared. Here a gunicorn master (the well-kept pre-fork server; ``uvicorn-worker`` runs
the ASGI app in each child) loads and verifies the bundle once, moves every object it made into the
garbage collector's permanent generation (``gc.freeze``, so no collection in a child touches their
headers) and forks the workers: the interpreter, the libraries, the catalog, the indexes and the ONNX
session are pages every worker shares until one writes them (copy-on-write). Each worker then opens
its own store connection, rules and keys in its lifespan, exactly as a single worker does.

**New bundles.** Each worker would otherwise load a new ``latest`` by itself, into private memory.
Here the workers do not watch; the master does: when ``latest`` moves it loads and verifies the new
bundle (a bundle that does not load is refused and logged, and the workers keep serving), builds a
new app around it and replaces the workers one generation at a time (gunicorn's ``HUP``: new workers
first, then the old ones finish their requests and exit). ``POST /v1/admin/reload`` still swaps the
bundle inside the worker that receives it at once; the master's next poll rolls every worker over.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import uvicorn
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from uvicorn_worker import UvicornWorker

from models.bundle import BundleError, resolve_bundle_path
from models.clock import Clock, system_clock
from models.config import Settings
from service.serving import MAX_REFUSALS_KEPT, Refusal, bundle_key, settle_memory
from service.state import BundleView

logger = logging.getLogger(__name__)
WORKER_CLASS = "service.prefork.DrainingUvicornWorker"
DRAIN_S = 1.0  # after a worker stops accepting: requests already on its connections arrive and start
WORKER_TIMEOUT_S = 120  # a worker's event loop silent this long is restarted (a bundle loads off the loop)
GRACEFUL_TIMEOUT_S = 30  # an old worker's in-flight requests finish within this on shutdown or a roll-over


class PreforkServer(BaseApplication):
    """A gunicorn application whose master holds the loaded bundle the workers are forked from."""

    def __init__(
        self, settings: Settings, host: str, port: int, workers: int, clock: Clock = system_clock
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.options = {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": WORKER_CLASS,
            "preload_app": True,
            "timeout": WORKER_TIMEOUT_S,
            "graceful_timeout": GRACEFUL_TIMEOUT_S,
            "accesslog": None,  # the service logs each request itself, as JSON and without raw identifiers
            "proc_name": "omnirank",
            "loglevel": "warning",  # worker boots and exits are routine; problems still reach stderr
        }
        self.base: BundleView | None = None
        self.refusals: list[
            Refusal
        ] = []  # bundles the master would not load, shown on every worker's /health
        self._watcher: MasterBundleWatcher | None = None
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """Called in the master (``preload_app``) at start and after every ``HUP``: the app the next
        generation of workers is forked from, with the bundle already in memory."""
        from service.app import create_app

        # tokenizers' Rust thread pool does not survive fork; one query at a time needs none
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if self.base is None:
            self.base = BundleView.load(self.settings)
        app = create_app(self.settings, self.clock, preloaded=self.base, refusals=self.refusals)
        # Starlette builds the middleware stack (the metrics instrumentation, limits, logging) on its
        # first call: built here, each worker inherits it instead of writing ~9 MiB of its own
        app.middleware_stack = app.build_middleware_stack()
        import_worker_modules(app)
        settle_memory()  # collect what loading left, then freeze the survivors before the fork
        if self._watcher is None and self.settings.reload_poll_seconds > 0:
            self._watcher = MasterBundleWatcher(self, self.settings.reload_poll_seconds)
            self._watcher.start()
        logger.info(
            "master holds bundle %s for %s workers", self.base.bundle.version, self.options["workers"]
        )
        return app

    def reload(self) -> None:
        """``HUP``: forget the built app so ``load`` builds one around ``self.base`` (the watcher set it)."""
        self.callable = None
        super().reload()

    def swap_to(self, target: Path) -> bool:
        """Load and verify ``target`` in the master, then roll the workers over to it. Returns whether
        it was taken; when not, the refusal is recorded (``refuse``) and the old bundle kept."""
        try:
            base = BundleView.load(self.settings, target)
        except (BundleError, OSError, ValueError, KeyError) as exc:
            self.refuse(str(target), f"{type(exc).__name__}: {exc}")
            return False
        self.base = base
        os.kill(os.getpid(), signal.SIGHUP)
        return True

    def refuse(self, path: str, reason: str) -> None:
        """Record a bundle the master would not serve and roll the workers over on the old bundle, so
        every worker's ``/health`` lists the refusal (forking a worker is cheap: nothing is loaded)."""
        logger.error("refused bundle %s: %s; workers keep serving the previous one", path, reason)
        self.refusals = [*self.refusals, Refusal(path, reason, self.clock())][-MAX_REFUSALS_KEPT:]
        os.kill(os.getpid(), signal.SIGHUP)


def import_worker_modules(app: Any) -> None:
    """Import in the master the modules every worker would import as it starts: uvicorn's HTTP,
    WebSocket and lifespan protocols (a worker's ``Config.load``, same options) and anyio's asyncio
    backend (loaded by the first call into the thread pool). Imported after the fork, each worker
    kept a private copy of their code objects and module state (~6 MiB)."""
    uvicorn.Config(app, lifespan="on", **DrainingUvicornWorker.CONFIG_KWARGS).load()
    anyio.run(anyio.sleep, 0)


class MasterBundleWatcher(threading.Thread):
    """In the master: polls ``latest`` and rolls the workers over when it points at a new bundle."""

    def __init__(self, server: PreforkServer, interval: float) -> None:
        super().__init__(name="omnirank-master-bundle-watcher", daemon=True)
        self.server = server
        self.interval = interval
        self._refused: tuple | None = None  # what was last refused: not retried until it changes
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                self.poll()
            except Exception:  # never let the watcher die: the next poll tries again
                logger.exception("master bundle watcher: poll failed")

    def poll(self) -> None:
        bundles_dir = self.server.settings.bundles_dir
        try:
            target = resolve_bundle_path(bundles_dir)
        except BundleError as exc:  # ``latest`` points nowhere loadable (a writer died half-way)
            key = (str(bundles_dir), str(exc))
            if key != self._refused:
                self._refused = key
                self.server.refuse(str(bundles_dir), str(exc))
            return
        served = self.server.base.bundle.path if self.server.base is not None else None
        if target == served:
            self._refused = None
            return
        key = bundle_key(target)
        if key != self._refused and not self.server.swap_to(target):
            self._refused = key


class DrainingServer(uvicorn.Server):
    """uvicorn's server, stopping in two steps: first it stops accepting (the other workers, or the
    next generation, take new connections from the shared socket), then after ``DRAIN_S`` it
    shuts down as uvicorn does.

    Why: uvicorn closes at once every connection with no request in progress, and a connection it
    accepted a moment before the stop, whose request bytes were still on their way, counts as one:
    its client saw "connection reset" in the middle of a bundle swap under load. After the pause
    such a request is in progress, so it is answered before the connection closes."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        await asyncio.sleep(DRAIN_S)
        await super().shutdown(sockets)


class DrainingUvicornWorker(UvicornWorker):
    """``uvicorn_worker.UvicornWorker`` serving with :class:`DrainingServer` (its ``_serve``, with
    that one class changed)."""

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = DrainingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)


def serve_preforked(settings: Settings, host: str, port: int, workers: int) -> None:
    """Run the pre-fork server until SIGTERM/SIGINT (gunicorn stops the workers gracefully)."""
    PreforkServer(settings, host, port, workers).run()


def main(argv: list[str] | None = None) -> None:
    """``python -m service.prefork --host H --port P --workers N``: what ``omnirank serve --workers N``
    runs (in its own process, so the CLI does not import the service); settings from the environment."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    args = parser.parse_args(argv)
    serve_preforked(Settings(), args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
