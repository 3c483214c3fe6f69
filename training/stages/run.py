"""What the stages share: the run being trained and the shape of a stage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.bundle import BundleWriter
from models.catalog import Catalog
from models.config import Settings
from training.ingest import IngestResult
from training.live_events import LiveEvents


@dataclass
class TrainingRun:
    """One training run: its inputs, the bundle being written and what earlier stages produced.

    Each stage reads what it needs from here and leaves what later stages read (``catalog``,
    ``interactions``), so ``train`` is only the declared list of stages run in order."""

    data_dir: Path
    settings: Settings
    out: BundleWriter
    evaluate: bool = True
    finetune: bool = False
    store: Path | None = None
    ray_address: str | None = None
    """A Ray cluster for the heavy stages (``--ray-address`` / ``RAY_ADDRESS``); None: this machine."""
    metrics: dict[str, Any] = field(default_factory=dict)
    data: IngestResult | None = None
    live: LiveEvents | None = None
    catalog: Catalog | None = None
    interactions: Any = None
    """The CF stage's interaction matrix, for the customer-affinity stage; dropped after it."""
    recs_validation: Any = None
    """The CF stage's validation window (``training.cf.ValidationWindow``), for the recommendation
    ranker's stage; dropped after it."""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def has_history(self) -> bool:
        """Customer events to learn from: without them (a retailer starting with search) only the
        search-side components are trained and the service answers search."""
        return self.data is not None and not self.data.events.empty

    def dir(self, relative: str) -> Path:
        """A directory artifact inside the bundle being written (created)."""
        return self.out.file(relative + "/x").parent


@dataclass(frozen=True)
class Stage:
    """One step of training. ``component`` is the bundle component it trains (None: ground work
    every component stands on, or evaluation); ``writes`` the artifacts it leaves in the bundle."""

    name: str
    run: Callable[[TrainingRun], None]
    component: str | None = None
    writes: tuple[str, ...] = ()
    needs_history: bool = False
    when: Callable[[TrainingRun], bool] | None = None
    """Run only when this says so (e.g. evaluation only with labelled queries)."""

    def applies(self, run: TrainingRun) -> bool:
        if self.needs_history and not run.has_history:
            return False
        return self.when is None or self.when(run)
