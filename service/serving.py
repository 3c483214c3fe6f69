"""The one swappable reference to what the service serves, and what keeps it current.

Three things change while the service runs, each by building a new immutable
:class:`~service.state.ServingView` and swapping ``Serving._view`` (one reference assignment):

* **live state** (stock, prices, products): every write bumps the store's ``live_version``; each
  request compares it with its view's (one indexed read) and, when it moved, applies only the rows
  written since (``LiveOverlay.apply``). So every worker process sees a change on its next request.
* **rules**: the live rules file, shared by every worker; one ``stat`` per request.
* **the bundle**: :class:`BundleWatcher` polls ``latest`` (and ``POST /v1/admin/reload`` asks now),
  loads and verifies the new bundle off the request path, then swaps. A bundle that fails to load
  (flipped byte, missing file, half-written directory) is refused, recorded for ``/health``, and the
  old one keeps serving. Live state carries over: the new bundle's overlay is built from the store.

Requests never wait for a bundle to load; they wait at most for a live change to be applied.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import random
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from models.bundle import BundleError, resolve_bundle_path
from models.clock import Clock
from models.config import DEFAULT_PII_SALT, Settings
from models.live.overlay import LiveOverlay
from models.rules import RuleSet, describe, load_live_rules
from models.store import LiveStore, store_location
from service.security import InsecureStart, KeyRing
from service.state import BundleView, ServingView

logger = logging.getLogger(__name__)
FileSignature = tuple[int, int, int]  # (inode, mtime in ns, size)
MAX_REFUSALS_KEPT = 10
LIVE_APPLY_WAIT_S = 5.0


def file_signature(st: os.stat_result) -> FileSignature:
    """What changes whenever the rules file is replaced. The inode is there besides mtime and size
    because a save is a rename of a fresh file (a new inode), so two saves of equal size within one
    coarse filesystem timestamp tick still differ."""
    return (st.st_ino, st.st_mtime_ns, st.st_size)


@dataclass(frozen=True)
class Refusal:
    """A bundle the service would not serve, and why."""

    path: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class ReloadOutcome:
    status: str  # "loaded", "unchanged" or "refused"
    version: str  # the version served after the attempt
    detail: str = ""


class Serving:
    """Holds the current view; the only mutable object of the service process."""

    def __init__(self, settings: Settings, store: LiveStore, base: BundleView, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.rules_path = Path(settings.rules_path)
        self.refusals: list[Refusal] = []
        self.owns_store = True
        self._lock = threading.RLock()  # builds and swaps of the view, one at a time
        self._reload_lock = threading.Lock()  # one bundle load at a time
        self._refused_keys: set[tuple] = set()
        rules = load_live_rules(
            self.rules_path, base.default_rules, base.catalog, base.search.query.synonyms_
        )
        self.rules_signature: FileSignature | None = None
        self._view = ServingView.build(base, self._overlay_for(base), rules, store)
        self.refresh_rules()  # records which version of the file is in memory (another worker may have just PUT)
        self._keyring = self._load_keys()

    @classmethod
    def start(cls, settings: Settings, clock: Clock, preloaded: BundleView | None = None) -> Serving:
        """Open the store, load the bundle (or take the one a pre-fork master loaded: see
        service.prefork), and refuse to start open to anyone (see service.security)."""
        store = LiveStore(store_location(settings), synchronous=settings.event_store_synchronous)  # type: ignore[arg-type]
        try:
            serving = cls(settings, store, preloaded or BundleView.load(settings), clock)
            if not serving.keyring().has_admin and not settings.dev_mode:
                raise InsecureStart(
                    "no admin API key: set OMNIRANK_ADMIN_KEY (or create one with `omnirank keys create --scope admin`), "
                    "or OMNIRANK_DEV_MODE=1 on a developer's machine, where every caller is admin"
                )
        except BaseException:
            store.close()
            raise
        if preloaded is None:
            settle_memory()
        else:
            # a forked worker: a full collection would write to every object inherited from the master
            # and copy its pages; only this worker's own new objects are frozen, and the heap its
            # start-up used and freed (reading the rules, opening the store) goes back to the system
            gc.freeze()
            release_free_heap()
        if settings.dev_mode:
            logger.warning(
                "OMNIRANK_DEV_MODE=1: callers without an API key are admin; never expose this service"
            )
        if settings.pii_salt == DEFAULT_PII_SALT:
            logger.warning(
                "OMNIRANK_PII_SALT is the public default: anyone can hash a guessed email and match it. "
                "Set a secret salt per retailer before storing real customers"
            )
        return serving

    @classmethod
    def pinned(cls, settings: Settings, store: LiveStore, bundle_path: Path, clock: Clock) -> Serving:
        """A serving of one fixed bundle over another serving's store (an A/B test's arm B): it
        follows the live store and the rules file like any worker, never swaps its bundle, and
        leaves closing the shared store to its owner."""
        serving = cls(settings, store, BundleView.load(settings, Path(bundle_path)), clock)
        serving.owns_store = False
        return serving

    # --- keys ------------------------------------------------------------------------------------
    def _load_keys(self) -> KeyRing:
        admin = self.settings.admin_key.get_secret_value() if self.settings.admin_key else None
        return KeyRing(self.store.api_keys(), admin, self.settings.dev_mode, self.store.keys_version())

    def keyring(self) -> KeyRing:
        """The keys this worker accepts, re-read once after any key was created or revoked."""
        if self.store.keys_version() != self._keyring.version:
            self._keyring = self._load_keys()
        return self._keyring

    @property
    def view(self) -> ServingView:
        return self._view

    def current(self) -> ServingView:
        """The view a request should read: rules and live state brought up to date first."""
        self.refresh_rules()
        self.refresh_live()
        return self._view

    # --- live state ------------------------------------------------------------------------------
    def _overlay_for(self, base: BundleView) -> LiveOverlay:
        """The live overlay of a bundle from every live row in the store (start-up, bundle swap)."""
        return self._apply(base, base.trained_overlay())

    def _apply(self, base: BundleView, overlay: LiveOverlay) -> LiveOverlay:
        changes = self.store.live_changes(overlay.version)
        if changes.version == overlay.version:
            return overlay
        return overlay.apply(
            changes, base.search.bm25.document_tokens, base.search.encoder.encode, base.encoder_id
        )

    def refresh_live(self) -> bool:
        """Apply what other requests or workers wrote to the live tables since this view was built.
        Returns True when the view changed."""
        if self.store.live_version() == self._view.overlay.version:
            return False
        if not self._lock.acquire(
            timeout=LIVE_APPLY_WAIT_S
        ):  # a bundle swap is finishing: serve what is there
            return False
        try:
            view = self._view
            overlay = self._apply(view.base, view.overlay)
            if overlay is view.overlay:
                return False
            self._view = ServingView.build(view.base, overlay, view.rules, self.store)
            return True
        finally:
            self._lock.release()

    # --- rules -----------------------------------------------------------------------------------
    def refresh_rules(self) -> bool:
        """Re-read the live rules file if another process replaced it since this one read it.

        Why: ``PUT /v1/admin/rules`` swaps the rules of the worker that served it only; the file is
        what every worker shares. Called once per request, it costs one ``stat`` when nothing
        changed; the file is parsed only after a change. ``put_rules`` leaves ``rules_signature`` at
        the old version on purpose, so its own process re-reads the file too and ends on whatever the
        last writer of any process saved. Returns True when it reloaded.
        """
        try:
            seen = file_signature(os.stat(self.rules_path))
        except OSError:  # deleted or unreadable: keep serving the rules in memory
            return False
        if seen == self.rules_signature:
            return False
        with self._lock:
            return self._reload_rules()

    def _reload_rules(self) -> bool:
        """Read the file through one descriptor, so the signature recorded is that of the bytes parsed
        even if another process replaces the file meanwhile. Call with ``_lock`` held."""
        try:
            with open(self.rules_path, "rb") as fh:
                signature = file_signature(os.fstat(fh.fileno()))
                if signature == self.rules_signature:  # another thread of this process reloaded it
                    return False
                text = fh.read()
        except OSError as exc:
            logger.error(
                "cannot read the live rules file %s: %s; keeping the rules in memory", self.rules_path, exc
            )
            return False
        try:
            rules = RuleSet.model_validate_json(text)
        except ValidationError as exc:
            logger.error(
                "live rules file %s is invalid (%s); keeping the previous rules",
                self.rules_path,
                describe(exc),
            )
            self.rules_signature = signature  # reported once per version of the file, not once per request
            return False
        view = self._view
        for problem in rules.problems(view.catalog):
            logger.warning("%s (in %s)", problem, self.rules_path)
        self._view = view.with_rules(rules)
        # Only now: a request that sees the new signature without the lock must also see the new rules.
        self.rules_signature = signature
        return True

    def put_rules(self, rules: RuleSet) -> None:
        """Save the rules for every worker and serve them in this one from the next request on."""
        with self._lock:  # file and memory change together, one writer at a time
            rules.save(self.rules_path)
            self._view = self._view.with_rules(rules)

    # --- bundles ---------------------------------------------------------------------------------
    def reload(self, force: bool = False) -> ReloadOutcome:
        """Serve the bundle ``latest`` points at now, if it differs from the served one and loads.

        The bundle is read and verified here, on the caller's thread (the watcher's, or the admin
        request's), never on a search's path. A refused bundle is not retried until ``latest`` moves
        or ``force`` (``POST /v1/admin/reload``) asks again.
        """
        with self._reload_lock:
            served = self._view.bundle
            try:
                target = resolve_bundle_path(self.settings.bundles_dir)
            except BundleError as exc:
                return self._refuse(str(self.settings.bundles_dir), str(exc), force)
            if target == served.path:
                return ReloadOutcome("unchanged", served.version)
            key = bundle_key(target)
            if key in self._refused_keys and not force:
                return ReloadOutcome(
                    "refused", served.version, "already refused; POST /v1/admin/reload to retry"
                )
            try:
                base = BundleView.load(self.settings, target)
            except (BundleError, OSError, ValueError, KeyError) as exc:
                self._refused_keys.add(key)
                return self._refuse(str(target), f"{type(exc).__name__}: {exc}", force)
            with self._lock:
                overlay = self._overlay_for(base)
                view = self._view
                for problem in view.rules.problems(overlay.catalog):
                    logger.warning("%s (rules against bundle %s)", problem, base.bundle.version)
                self._view = ServingView.build(base, overlay, view.rules, self.store)
            del view, base
            settle_memory()
            logger.info("now serving bundle %s (was %s)", self._view.bundle.version, served.version)
            return ReloadOutcome("loaded", self._view.bundle.version)

    def _refuse(self, path: str, reason: str, force: bool) -> ReloadOutcome:
        if force or not any(r.path == path and r.reason == reason for r in self.refusals):
            logger.error("refused bundle %s: %s; still serving %s", path, reason, self._view.bundle.version)
            self.refusals = [*self.refusals, Refusal(path, reason, self.clock())][-MAX_REFUSALS_KEPT:]
        return ReloadOutcome("refused", self._view.bundle.version, reason)

    def close(self) -> None:
        if self.owns_store:
            self.store.close()


def settle_memory() -> None:
    """After a bundle is loaded: collect what loading left, then move the survivors (hundreds of
    thousands of long-lived objects) out of the garbage collector's way, so a full collection never
    lands inside a request (it cost ~0.3 s per collection measured on the sample). Unfreezing first
    lets the previous bundle's cycles be collected once it is no longer served."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    release_free_heap()


def release_free_heap() -> None:
    """Hand the heap pages freed while loading back to the system (glibc keeps them otherwise): a
    loaded bundle leaves ~100 MiB of freed parse buffers resident, which a pre-fork master would
    otherwise carry next to its workers for its whole life."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def bundle_key(path: Path) -> tuple:
    """Identifies one state of a bundle directory, so a refused one is retried once it changes."""
    try:
        st = os.stat(path / "manifest.json")
        return (str(path), st.st_ino, st.st_mtime_ns, st.st_size)
    except OSError:
        return (str(path), None)


class BundleWatcher(threading.Thread):
    """Polls ``latest`` every ``interval`` seconds and swaps in a new bundle when it moved."""

    def __init__(self, serving: Serving, interval: float) -> None:
        super().__init__(name="omnirank-bundle-watcher", daemon=True)
        self.serving = serving
        self.interval = interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        # jittered, so the workers of one server do not all load the new bundle at the same moment
        while not self._stop_event.wait(self.interval * random.uniform(0.5, 1.5)):
            try:
                self.serving.reload()
            except Exception:  # never let the watcher die: the next poll tries again
                logger.exception("bundle watcher: reload failed")

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)
