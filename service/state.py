"""Everything the service reads from one bundle, loaded once at start-up into ``app.state``.

A reload of a new bundle builds a new ``ServingState`` and swaps the reference, so requests in
flight finish on the state they started with.

With several worker processes (``omnirank serve --workers N``) each holds its own ``ServingState``.
The bundle is immutable and events are read from the shared SQLite store on every request, so the
only mutable thing a process keeps in memory is its copy of the live merchandising rules; it is kept
in step with the shared rules file by :meth:`ServingState.refresh_rules`.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from models import artifacts as A
from models.bundle import RECOMMENDATIONS, SEARCH, Bundle, BundleError
from models.catalog import Catalog
from models.config import Settings
from models.recommend import Interaction, RecommendationEngine, load_history
from models.recommenders.interactions import type_weights_from_settings
from models.rules import RuleSet, describe, load_live_rules
from models.search_engine import SearchEngine
from models.suggest import Suggester
from service.event_store import EventStore

logger = logging.getLogger(__name__)
FileSignature = tuple[int, int, int]  # (inode, mtime in ns, size)


def file_signature(st: os.stat_result) -> FileSignature:
    """What changes whenever the rules file is replaced. The inode is there besides mtime and size
    because a save is a rename of a fresh file (a new inode), so two saves of equal size within one
    coarse filesystem timestamp tick still differ."""
    return (st.st_ino, st.st_mtime_ns, st.st_size)


@dataclass
class ServingState:
    bundle: Bundle
    catalog: Catalog
    search: SearchEngine
    recs: RecommendationEngine | None  # None for a search-only bundle (trained from a catalog alone)
    identity: dict[str, str]  # identifier hash -> customer_id
    customers: pd.DataFrame  # indexed by customer_id
    affinity: dict[str, dict[str, float]]
    events: EventStore
    type_weights: dict[str, float]
    history: dict[str, list[Interaction]]
    suggester: Suggester | None = None
    rules_path: Path | None = None  # the live rules file; search.rules is its in-memory copy
    rules_lock: threading.Lock = field(default_factory=threading.Lock)  # one rules writer/reloader at a time
    rules_signature: FileSignature | None = None  # the rules file version search.rules was read from

    @classmethod
    def load(cls, settings: Settings, bundle_path: Path | None = None) -> ServingState:
        bundle = Bundle.open(bundle_path or settings.bundles_dir, verify=True)
        if SEARCH not in bundle.components:
            raise BundleError(f"bundle {bundle.version} holds {sorted(bundle.components)}; the service needs {SEARCH!r}")
        catalog = Catalog.load(bundle.path / A.CATALOG_DIR)
        Path(settings.event_store_path).parent.mkdir(parents=True, exist_ok=True)
        state = cls(
            bundle=bundle,
            catalog=catalog,
            search=SearchEngine.load(
                bundle.path, catalog, model_file=A.query_model_file(bundle.manifest), threads=settings.onnx_threads
            ),
            events=EventStore(settings.event_store_path, synchronous=settings.event_store_synchronous),
            type_weights=type_weights_from_settings(settings),
            **(_customer_side(bundle, catalog, settings) if RECOMMENDATIONS in bundle.components else _no_customer_side()),
        )
        state.rules_path = Path(settings.rules_path)
        state.search.rules = load_live_rules(state.rules_path, bundle.path / A.RULES, catalog, state.search.query.synonyms_)
        state.refresh_rules()  # records which version of the file is in memory (another worker may have just PUT)
        state.suggester = load_suggester(bundle, catalog, settings)
        return state

    def refresh_rules(self) -> bool:
        """Re-read the live rules file if another process replaced it since this one read it.

        Why: ``PUT /v1/admin/rules`` swaps the rules in memory of the worker that served it only; the
        file is what every worker shares. Called once per request (see ``service.deps.get_state``), it
        costs one ``stat`` when nothing changed; the file is parsed only after a change. The PUT path
        leaves ``rules_signature`` at the old version on purpose, so its own process re-reads the file
        too and ends on whatever the last writer of any process saved. Returns True when it reloaded.
        """
        if self.rules_path is None:
            return False
        try:
            seen = file_signature(os.stat(self.rules_path))
        except OSError:  # deleted or unreadable: keep serving the rules in memory
            return False
        if seen == self.rules_signature:
            return False
        with self.rules_lock:
            return self._reload_rules()

    def _reload_rules(self) -> bool:
        """Read the file through one descriptor, so the signature recorded is that of the bytes parsed
        even if another process replaces the file meanwhile. Call with ``rules_lock`` held."""
        try:
            with open(self.rules_path, "rb") as fh:  # type: ignore[arg-type]
                signature = file_signature(os.fstat(fh.fileno()))
                if signature == self.rules_signature:  # another thread of this process reloaded it
                    return False
                text = fh.read()
        except OSError as exc:
            logger.error("cannot read the live rules file %s: %s; keeping the rules in memory", self.rules_path, exc)
            return False
        try:
            rules = RuleSet.model_validate_json(text)
        except ValidationError as exc:
            logger.error("live rules file %s is invalid (%s); keeping the previous rules", self.rules_path, describe(exc))
            self.rules_signature = signature  # reported once per version of the file, not once per request
            return False
        for problem in rules.problems(self.catalog):
            logger.warning("%s (in %s)", problem, self.rules_path)
        self.search.rules = rules
        # Only now: a request that sees the new signature without the lock must also see the new rules.
        self.rules_signature = signature
        return True


def _customer_side(bundle: Bundle, catalog: Catalog, settings: Settings) -> dict:
    """Recommendation models, identity and history: what a bundle trained on customer events adds."""
    identity_map = pd.read_parquet(bundle.path / A.IDENTITY_MAP)
    affinity: dict[str, dict[str, float]] = {}
    for cid, cat, aff in pd.read_parquet(bundle.path / A.CATEGORY_AFFINITY).itertuples(index=False):
        affinity.setdefault(cid, {})[cat] = float(aff)
    return {
        "recs": RecommendationEngine.load(bundle.path, catalog, settings),
        "identity": dict(zip(identity_map["identifier_hash"], identity_map["customer_id"], strict=True)),
        "customers": pd.read_parquet(bundle.path / A.CUSTOMERS).set_index("customer_id"),
        "affinity": affinity,
        "history": load_history(bundle.path / A.HISTORY),
    }


def _no_customer_side() -> dict:
    """A search-only bundle knows no customers: search still takes ``customer_id`` (no re-rank),
    the recommendation and profile endpoints answer 503 (see ``service.deps.require_recs``)."""
    return {
        "recs": None,
        "identity": {},
        "customers": pd.DataFrame(index=pd.Index([], name="customer_id", dtype=object)),
        "affinity": {},
        "history": {},
    }


def load_suggester(bundle: Bundle, catalog: Catalog, settings: Settings) -> Suggester:
    """The bundle's suggester; a bundle trained before suggestions existed gets one fitted on its
    catalog (titles, categories, brands; no query log) so the endpoint still works."""
    if (bundle.path / A.SUGGEST_DIR).is_dir():
        return Suggester.load(bundle.path / A.SUGGEST_DIR)
    return Suggester(max_k=settings.suggest_max_k).fit(catalog.products)
