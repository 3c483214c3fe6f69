"""The seeded sample generator and the committed ``data_samples`` follow the import format and plant
the structure later stages rely on (split identities, bundles, labelled queries)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from models import schemas
from models.pii import normalize_identifier
from training.cli import app
from training.sample import SampleConfig, generate_sample
from training.sample.queries import KINDS, misspell

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "data_samples"
SMALL = dict(customers=300, products=400, months=7, seed=7)


def _digest(data_dir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(data_dir.rglob("*"))
        if p.is_file()
    }


def _events(data_dir: Path) -> pd.DataFrame:
    return pd.read_json(data_dir / "events.jsonl.gz", lines=True, dtype=False)


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample_a")
    generate_sample(out, SampleConfig(**SMALL), show_progress=False)
    return out


@pytest.fixture(scope="module")
def committed_events() -> pd.DataFrame:
    return _events(COMMITTED)


@pytest.fixture(scope="module")
def committed_truth() -> pd.DataFrame:
    return pd.read_parquet(COMMITTED / "truth" / "identities.parquet")


def test_same_seed_is_byte_identical_and_cli_matches_api(small_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "via_cli"
    args = ["generate-sample", "--out", str(out)] + [f"--{k}={v}" for k, v in SMALL.items()]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert _digest(out) == _digest(small_dir)


def test_other_seed_differs(small_dir: Path, tmp_path: Path) -> None:
    generate_sample(tmp_path, SampleConfig(**{**SMALL, "seed": 8}), show_progress=False)
    a, b = _digest(small_dir), _digest(tmp_path)
    assert a.keys() == b.keys()
    assert a["events.jsonl.gz"] != b["events.jsonl.gz"]
    assert a["products.parquet"] != b["products.parquet"]


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["generate-sample", "--products", "10", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "--products must be at least" in result.output


def _check_table(data_dir: Path, spec: schemas.TableSpec) -> pd.DataFrame:
    path = data_dir / f"{spec.name}.parquet"
    table = pq.read_table(path)
    assert table.schema.names == spec.schema.names, spec.name
    for f in spec.schema:
        assert table.schema.field(f.name).type == f.type, (spec.name, f.name)
    for name in spec.required:
        assert table.column(name).null_count == 0, (spec.name, name)
    df = table.to_pandas()
    if spec.key:
        assert not df.duplicated(list(spec.key)).any(), f"{spec.name}: duplicate keys"
    return df


@pytest.mark.parametrize("which", ["small", "committed"])
def test_every_file_follows_its_schema(which: str, small_dir: Path) -> None:
    data_dir = small_dir if which == "small" else COMMITTED
    products = _check_table(data_dir, schemas.PRODUCTS)
    stores = _check_table(data_dir, schemas.STORES)
    inventory = _check_table(data_dir, schemas.INVENTORY)
    customers = _check_table(data_dir, schemas.CUSTOMERS)
    unsub = _check_table(data_dir, schemas.UNSUBSCRIBES)
    queries = _check_table(data_dir, schemas.QUERIES)
    judgments = _check_table(data_dir, schemas.JUDGMENTS)

    assert set(products["target"].dropna()) <= set(schemas.TARGETS)
    assert (products["list_price"] >= products["price"]).all() and (products["price"] > 0).all()
    assert products["title"].is_unique
    assert products["category"].str.fullmatch(r"[^>]+ > [^>]+").all()
    assert set(inventory["store_id"]) <= set(stores["store_id"])
    assert set(inventory["sku"]) <= set(products["sku"]) and (inventory["stock"] >= 0).all()
    assert set(customers["source"]) == {"loyalty", "web", "app"}
    assert customers[["loyalty_id", "email", "phone"]].notna().any(axis=1).all()
    assert unsub["email"].map(lambda e: normalize_identifier("email", e)).notna().all()
    assert set(queries["language"]) <= {"en", "pt", "hi", "bn"} and set(queries["kind"]) <= set(KINDS)
    assert set(judgments["query_id"]) <= set(queries["query_id"]) and set(judgments["sku"]) <= set(
        products["sku"]
    )
    assert (judgments["gain"] == judgments["label"].map(schemas.WANDS_GAIN)).all()

    events = _events(data_dir)
    assert set(events.columns) <= set(schemas.EVENTS.schema.names)
    for name in schemas.EVENTS.required:
        assert events[name].notna().all(), name
    assert events["event_id"].is_unique
    # every type but "click": the generator simulates no recommendation answers to click in
    assert set(events["type"]) == set(schemas.EVENT_TYPES) - {"click"}
    assert set(events["channel"]) <= set(schemas.CHANNELS)
    ts = pd.to_datetime(events["timestamp"], utc=True, format="ISO8601")
    assert ts.notna().all()
    needs_sku = ~events["type"].isin(["search", "email_send"])
    assert events.loc[needs_sku, "sku"].notna().all()
    assert set(events["sku"].dropna()) <= set(products["sku"])
    assert (events["quantity"].dropna() > 0).all()
    assert events.loc[events["type"].isin(["search", "search_click"]), "query"].notna().all()
    assert events.loc[events["type"].str.startswith("email"), "campaign"].notna().all()
    pos = events[(events["channel"] == "store") & (events["type"] == "purchase")]
    assert pos["store_id"].notna().all() and set(pos["store_id"]) <= set(stores["store_id"])
    new = set(products.loc[products["created_at"] > ts.max() - pd.Timedelta(days=14), "sku"])
    assert new and not (new & set(events["sku"].dropna()))  # brand-new products have no behaviour


def test_committed_sample_sizes(committed_events: pd.DataFrame, committed_truth: pd.DataFrame) -> None:
    products = pd.read_parquet(COMMITTED / "products.parquet")
    assert len(products) >= 3000
    assert products["category"].str.split(" > ").str[0].nunique() >= 15
    assert len(pd.read_parquet(COMMITTED / "stores.parquet")) >= 5
    persons = pd.read_parquet(COMMITTED / "truth" / "persons.parquet")
    assert len(persons) >= 5000 and committed_truth["person_id"].nunique() >= 4000
    ts = pd.to_datetime(committed_events["timestamp"], utc=True)
    assert ts.max() - ts.min() >= pd.Timedelta(days=180)
    assert 150_000 <= len(committed_events) <= 300_000
    queries = pd.read_parquet(COMMITTED / "queries.parquet")
    assert len(queries) >= 300 and {"pt", "hi"} <= set(queries["language"])
    assert (queries.loc[queries["language"] != "en", "kind"] == "multilingual").all()
    assert set(queries["kind"]) == set(KINDS)
    assert products["replenishment_days"].notna().sum() > 100
    size = sum(p.stat().st_size for p in COMMITTED.rglob("*") if p.is_file())
    assert size <= 20 * 2**20


def test_identities_are_split_across_channels(
    committed_events: pd.DataFrame, committed_truth: pd.DataFrame
) -> None:
    ev = committed_events
    purchases = ev[ev["type"] == "purchase"]
    pos = purchases[purchases["channel"] == "store"]
    only_loyalty = pos["loyalty_id"].notna() & pos["email"].isna() & pos["phone"].isna()
    assert only_loyalty.any()
    anonymous = pos.drop_duplicates("basket_id")[["loyalty_id", "email", "phone"]].isna().all(axis=1).mean()
    assert 0.1 < anonymous < 0.35
    web = purchases[purchases["channel"] == "web"]
    assert (web["email"].notna() & web["loyalty_id"].isna()).any()

    truth = committed_truth
    # Distinct people never share an identifier, however it is written.
    assert truth.groupby(["identifier_type", "normalized_value"])["person_id"].nunique().max() == 1
    emails = truth[truth["identifier_type"] == "email"]
    assert (emails.groupby("person_id")["normalized_value"].nunique() > 1).sum() > 50
    assert (emails["identifier_value"] != emails["normalized_value"]).any()  # messy case/whitespace
    phones = truth[truth["identifier_type"] == "phone"]
    assert (
        phones["identifier_value"].str.startswith("+").any()
        and phones["identifier_value"].str.startswith("(").any()
    )

    # Every identifier written anywhere belongs to a known person.
    customers = pd.read_parquet(COMMITTED / "customers.parquet")
    written = set(truth["identifier_value"])
    for col in ("loyalty_id", "email", "phone"):
        assert set(customers[col].dropna()) <= written, col
        assert set(ev[col].dropna()) <= written, col

    # Some people link loyalty <-> email only through an event carrying both, never in one record.
    norm = dict(zip(truth["identifier_value"], truth["normalized_value"], strict=True))
    person = dict(zip(truth["normalized_value"], truth["person_id"], strict=True))
    in_records = {
        person[norm[lid]]
        for lid, em in zip(customers["loyalty_id"], customers["email"], strict=True)
        if isinstance(lid, str) and isinstance(em, str)
    }
    both = ev[ev["loyalty_id"].notna() & ev["email"].notna()]
    via_events = {person[norm[lid]] for lid in both["loyalty_id"]}
    assert len(via_events - in_records) > 20


def test_planted_bundles_have_high_lift(committed_events: pd.DataFrame) -> None:
    bundles = pd.read_parquet(COMMITTED / "truth" / "bundles.parquet")
    assert bundles["bundle_id"].nunique() >= 15
    purchases = committed_events[committed_events["type"] == "purchase"]
    baskets = purchases.groupby("basket_id")["sku"].agg(set)
    n = len(baskets)
    count = purchases.drop_duplicates(["basket_id", "sku"])["sku"].value_counts()
    strong = set()
    for row in bundles.itertuples():
        n_a, n_b = count.get(row.anchor_sku, 0), count.get(row.companion_sku, 0)
        if n_a < 3:
            continue
        n_ab = sum(1 for s in baskets if row.anchor_sku in s and row.companion_sku in s)
        lift = n_ab * n / (n_a * n_b) if n_b else 0.0
        assert lift > 3, (row.bundle_id, n_a, n_b, n_ab, lift)
        strong.add(row.bundle_id)
    assert len(strong) >= 15


def test_labelled_queries_have_rule_based_judgments(committed_events: pd.DataFrame) -> None:
    queries = pd.read_parquet(COMMITTED / "queries.parquet")
    judgments = pd.read_parquet(COMMITTED / "judgments.parquet")
    products = pd.read_parquet(COMMITTED / "products.parquet").set_index("sku")
    exact = judgments[judgments["label"] == "exact"]
    assert set(exact["query_id"]) == set(queries["query_id"])
    assert set(judgments["label"]) == {"exact", "partial", "irrelevant"}
    # Judgments follow product attributes: exact products meet the spec's colour, brand and price bound.
    specs = pd.read_parquet(COMMITTED / "truth" / "query_specs.parquet").add_suffix("_spec")
    ex = exact.merge(specs, left_on="query_id", right_on="query_id_spec").join(
        products[["color", "brand", "price", "category"]], on="sku"
    )
    for col in ("color", "brand"):
        constrained = ex[ex[f"{col}_spec"].notna()]
        assert len(constrained) and (constrained[col] == constrained[f"{col}_spec"]).all(), col
    bounded = ex[ex["max_price_spec"].notna()]
    assert len(bounded) and (bounded["price"] <= bounded["max_price_spec"]).all()
    typed = ex[ex["types_spec"].str.len() > 0]
    assert all(c in t.split("|") for c, t in zip(typed["category"], typed["types_spec"], strict=True))
    # The labelled strings are the test set: search logs reuse only a small fraction of them.
    labelled = set(queries["query"].str.lower())
    logged = committed_events.loc[committed_events["type"] == "search", "query"].str.lower()
    assert logged.nunique() > 500
    assert logged.isin(labelled).mean() < 0.05


def test_misspelling_is_an_explicit_edit() -> None:
    rng = np.random.default_rng(0)
    for text in ("running shoes", "northpeak jacket", "coffee machine"):
        typo = misspell(text, rng)
        assert typo != text and abs(len(typo) - len(text)) <= 3


def test_readme_documents_every_column() -> None:
    readme = (COMMITTED / "README.md").read_text(encoding="utf-8")
    for spec in schemas.TABLES.values():
        assert f"{spec.name}" in readme
        for column in spec.columns:
            assert f"`{column.name}`" in readme, (spec.name, column.name)
