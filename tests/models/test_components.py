"""Bundle components: each is listed in the manifest, holds its artifacts and loads from them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from models import artifacts as A
from models.bundle import Bundle, BundleError, resolve_bundle_path
from models.catalog import Catalog
from models.components import BY_NAME, COMPONENTS, load_components
from models.config import Settings
from models.customers import CustomerBook
from models.recommend import RecommendationEngine
from models.recs_ranker import ServedRanker
from models.search_engine import SearchEngine
from models.suggest import Suggester


def test_the_sample_bundle_holds_and_loads_every_component(trained_bundle: Path) -> None:
    bundle = Bundle.open(trained_bundle)
    # the learned recommendation ranker is listed only when training kept it (the manifest says)
    kept = bundle.metrics.get("recs_ranker", {}).get("kept", False)
    ranker = {"recs_ranker"} if kept else set()
    assert bundle.components == {"search", "suggest", "customers", "recommendations"} | ranker
    settings = Settings(search_rerank_candidates=150, recs_max_per_category=2)
    loaded = load_components(bundle, Catalog.load(bundle.path / A.CATALOG_DIR), settings)
    assert {name: type(obj) for name, obj in loaded.items()} == {
        "search": SearchEngine,
        "suggest": Suggester,
        "customers": CustomerBook,
        "recommendations": RecommendationEngine,
        **({"recs_ranker": ServedRanker} if kept else {}),
    }
    assert loaded["recommendations"].ranker is loaded.get("recs_ranker")  # served through the engine
    with pytest.raises(TypeError):
        loaded["search"] = None  # type: ignore[index]  # one immutable map per bundle
    # the loaders hand each component its settings
    assert loaded["search"].candidates == 150 and loaded["recommendations"].max_per_category == 2
    book = loaded["customers"]
    assert set(book.identity.values()) <= set(book.customers.index) and book.history and book.affinity


def test_the_manifest_records_each_components_settings(trained_bundle: Path) -> None:
    """The sample bundle is trained on the defaults: each component's sections hold them. (A field
    added after the bundle was trained is simply absent from a reused bundle's record.)"""
    recorded = Bundle.open(trained_bundle).parameters["settings"]
    assert set(recorded) == {c.name for c in COMPONENTS}
    for component in COMPONENTS:
        assert set(recorded[component.name]) == {section.__name__ for section in component.settings}
        for section in component.settings:
            values = recorded[component.name][section.__name__]
            defaults = section().model_dump(mode="json")
            assert values and values == {name: defaults[name] for name in values}, section.__name__
    assert recorded["search"]["SearchSettings"]["search_rerank_candidates"] == 200
    assert recorded["recommendations"]["RecommendationSettings"]["recs_max_per_category"] == 3
    assert recorded["customers"] == {}


def test_a_listed_component_missing_an_artifact_is_refused(trained_bundle: Path, tmp_path: Path) -> None:
    source = resolve_bundle_path(trained_bundle)
    copy = tmp_path / source.name
    shutil.copytree(source, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"] = {
        k: v for k, v in manifest["files"].items() if not k.startswith(A.COPURCHASE_DIR + "/")
    }
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="lacks recs/copurchase"):
        BY_NAME["recommendations"].present_in(Bundle.open(copy))
    assert BY_NAME["search"].present_in(Bundle.open(copy))


@pytest.mark.parametrize(
    ("listed", "components"),
    [
        (["search", "recommendations"], {"search", "suggest", "customers", "recommendations"}),
        (["search"], {"search", "suggest"}),
        (["search", "suggest"], {"search", "suggest"}),
    ],
)
def test_bundles_listed_before_the_split_still_say_what_they_hold(
    trained_bundle: Path, tmp_path: Path, listed: list[str], components: set[str]
) -> None:
    copy = tmp_path / "v"
    shutil.copytree(resolve_bundle_path(trained_bundle), copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["components"] = listed
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert Bundle.open(copy).components == components
