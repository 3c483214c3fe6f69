"""The vectorised scale generator at toy scale: schema-valid, deterministic for a seed, and with
identities really split across channels (so identity resolution has work to do at 1M customers)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import scale_data  # noqa: E402

from models import schemas  # noqa: E402
from models.config import Settings  # noqa: E402
from training import identity, ingest  # noqa: E402

SPEC = scale_data.ScaleSpec(customers=1500, products=400, events_per_customer=20, chunk_customers=600, seed=7)
TABLES = ("products", "stores", "inventory", "customers", "unsubscribes", "events")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("scale")
    return out, scale_data.generate(SPEC, out)


def test_tables_follow_the_schemas_and_ingest_cleanly(generated: tuple[Path, dict], tmp_path: Path) -> None:
    out, counts = generated
    for name in TABLES:
        schema = pq.read_schema(out / f"{name}.parquet")
        assert schema.names == schemas.TABLES[name].schema.names
        assert [f.type for f in schema] == [f.type for f in schemas.TABLES[name].schema], name
    data = ingest.ingest(out, tmp_path / "quarantine.jsonl")
    assert data.report()["quarantined_total"] == 0
    assert len(data.events) == counts["events"] and 15 <= counts["events"] / SPEC.customers <= 25
    assert len(data.products) == SPEC.products and data.customers["record_id"].is_unique
    # every type but "click" (a click in a recommendation answer: only the live service has those)
    assert set(data.events["type"].astype(str)) == set(schemas.EVENT_TYPES) - {"click"}


def test_same_seed_same_bytes(generated: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = generated
    scale_data.generate(SPEC, tmp_path)
    for name in TABLES:
        assert pq.read_table(out / f"{name}.parquet").equals(pq.read_table(tmp_path / f"{name}.parquet")), (
            name
        )


def test_identities_are_split_across_channels_and_merge(generated: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = generated
    data = ingest.ingest(out, tmp_path / "quarantine.jsonl")
    ev = data.events
    pos = ev[ev["channel"].astype(str) == "store"]
    web_orders = ev[(ev["channel"].astype(str) == "web") & (ev["type"].astype(str) == "purchase")]
    assert pos["loyalty_id"].notna().mean() > 0.5 and pos["email"].isna().all()
    assert web_orders["email"].notna().all() and web_orders["loyalty_id"].notna().mean() < 0.3
    salt = Settings().pii_salt
    graph = identity.resolve(data.customers, ev, salt, data.unsubscribes["email"])
    ev = ev.assign(customer_id=graph.customer_of(ev, salt))
    # people whose store receipts (loyalty id only) and web orders (email only) resolve to one customer
    store_people = set(
        ev.loc[(ev["channel"].astype(str) == "store") & ev["email"].isna(), "customer_id"].dropna()
    )
    web_people = set(
        ev.loc[(ev["channel"].astype(str) == "web") & ev["loyalty_id"].isna(), "customer_id"].dropna()
    )
    assert len(store_people & web_people) > 100
    assert len(graph.customers) < len(graph.identity_map)  # records merged: fewer people than identifiers
    per_person = pd.Series(graph.identity_map["customer_id"]).value_counts()
    assert per_person.max() <= 5  # no giant component: no two people share an identifier
