"""The declared stages: together they train every component, and write nothing that is no one's."""

from __future__ import annotations

from pathlib import Path

from models.bundle import Bundle
from models.components import COMPONENTS
from training.stages import STAGES


def _under(path: str, roots: set[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def test_every_component_is_trained_by_its_stages() -> None:
    for component in COMPONENTS:
        written = {a for s in STAGES if s.component == component.name for a in s.writes}
        assert written, f"{component.name} has no stage"
        assert set(component.artifacts) | set(component.optional) <= written, component.name
        assert (
            all(s.needs_history for s in STAGES if s.component == component.name) == component.needs_history
        )


def test_a_stage_writes_only_its_own_components_artifacts() -> None:
    owned = {a: c.name for c in COMPONENTS for a in (*c.artifacts, *c.optional)}
    for stage in STAGES:
        for artifact in stage.writes:
            if stage.component is not None and artifact in owned:
                assert owned[artifact] == stage.component, (stage.name, artifact)


def test_the_sample_bundle_holds_only_declared_artifacts(trained_bundle: Path) -> None:
    declared = {a for s in STAGES for a in s.writes}
    files = set(Bundle.open(trained_bundle).manifest["files"])
    assert sorted(f for f in files if not _under(f, declared)) == []


def test_every_stage_that_applies_is_timed(trained_bundle: Path) -> None:
    """The sample has events and labelled queries and trains without a live store: every stage runs
    but reading the store and the int8 decision without labels."""
    timings = Bundle.open(trained_bundle).metrics["stage_seconds"]
    skipped = {"live events (the service's store)", "int8 encoder (no labelled queries to check it)"}
    assert set(timings) == {s.name for s in STAGES} - skipped
