"""The offline pipeline: the declared stages (``training/stages``) run in order into one bundle.

ingest -> identity -> catalog -> embeddings -> lexical -> query understanding -> suggestions ->
CF -> recommendation ranker -> customer history -> search ranker -> co-purchase / trending -> product knowledge ->
evaluation -> report -> one published bundle. This module only runs and times the stages and
publishes what they wrote, with each component's settings in the manifest.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from models.bundle import BundleWriter, fingerprint_files
from models.components import COMPONENTS
from models.config import Settings, TrainingSettings, section_values
from training.memory import release_unused_memory
from training.stages import STAGES, TrainingRun

console = Console(stderr=True)


@contextmanager
def _timed(name: str, timings: dict[str, float]):
    console.print(f"[bold cyan]▶ {name}[/]")
    start = time.perf_counter()
    yield
    release_unused_memory()
    timings[name] = round(time.perf_counter() - start, 2)
    console.print(f"  [green]✓ {name}[/] in {timings[name]:.1f}s")


def train(
    data_dir: Path,
    bundles_dir: Path,
    settings: Settings,
    *,
    evaluate: bool = True,
    finetune: bool = False,
    store: Path | None = None,
    ray_address: str | None = None,
) -> Path:
    """Run every stage that applies on ``data_dir`` and publish a bundle under ``bundles_dir``;
    returns its path. ``store``: the service's live store; its events join ``--data``'s.
    ``ray_address``: a Ray cluster the catalog embedding runs on (``training/embed_ray.py``)."""
    with BundleWriter(bundles_dir) as out:
        run = TrainingRun(
            data_dir=Path(data_dir),
            settings=settings,
            out=out,
            evaluate=evaluate,
            finetune=finetune,
            store=store,
            ray_address=ray_address,
        )
        for stage in STAGES:
            if stage.applies(run):
                with _timed(stage.name, run.timings):
                    stage.run(run)
        trained = [c for c in COMPONENTS if run.has_history or not c.needs_history]
        # a component that must earn its place (the recommendation ranker) is listed only when kept
        served = [c for c in trained if not c.earned or all((out.path / a).exists() for a in c.artifacts)]
        path = out.publish(
            data_fingerprint=fingerprint_files(run.data.input_files),
            parameters={
                "finetune": finetune,
                "training": section_values(settings, TrainingSettings),
                "settings": {c.name: c.settings_of(settings) for c in trained},
            },
            metrics=run.metrics,
            extra={"catalog_size": len(run.catalog), "stores": run.catalog.store_ids},
            components=[c.name for c in served],
        )
    console.print(f"[bold green]bundle {path.name} published[/] at {path}")
    return path
