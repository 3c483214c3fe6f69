"""Orchestrates the sample: catalog, stores, labelled queries, then people streamed in chunks.

People are simulated chunk by chunk with a generator seeded by (seed, chunk), and each chunk's
customer records, identities and events are written before the next starts, so a million
customers never sit in memory at once and the output depends only on the arguments.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from tqdm import tqdm

from models import schemas
from models.errors import InputError
from models.pii import normalize_identifier
from training.sample import vocab
from training.sample.behaviour import IdGen, PersonSimulator, World, start_end
from training.sample.catalog import build_catalog
from training.sample.people import TOPS, customer_records, make_person
from training.sample.queries import build_labelled_queries
from training.sample.writer import EventWriter, ParquetStream, to_arrow, write_parquet

DEFAULT_START = datetime(2026, 3, 1, tzinfo=timezone.utc)

IDENTITY_SCHEMA = pa.schema(
    [
        ("identifier_type", pa.string()),
        ("identifier_value", pa.string()),
        ("normalized_value", pa.string()),
        ("person_id", pa.string()),
    ]
)
EVENT_PERSON_SCHEMA = pa.schema([("event_id", pa.string()), ("person_id", pa.string())])
PERSON_SCHEMA = pa.schema(
    [
        ("person_id", pa.string()),
        ("country", pa.string()),
        ("home_store_id", pa.string()),
        ("favourite_categories", pa.string()),
        ("favourite_brands", pa.string()),
        ("price_sensitivity", pa.float64()),
        ("has_loyalty", pa.bool_()),
        ("has_web", pa.bool_()),
        ("has_app", pa.bool_()),
        ("n_emails", pa.int64()),
        ("n_phones", pa.int64()),
        ("unsubscribed", pa.bool_()),
    ]
)


@dataclass(frozen=True)
class SampleConfig:
    """Size and seed of a generated dataset; the defaults give the committed ``data_samples``."""

    customers: int = 6000
    products: int = 3200
    months: int = 7
    seed: int = 42
    start: datetime = DEFAULT_START
    chunk_size: int = 2000

    def validate(self) -> None:
        if self.customers < 1:
            raise InputError(f"--customers must be >= 1, got {self.customers}")
        if self.months < 1 or self.months > 36:
            raise InputError(f"--months must be between 1 and 36, got {self.months}")
        if self.products < 4 * len(vocab.TYPES):
            raise InputError(
                f"--products must be at least {4 * len(vocab.TYPES)} (4 per product type), got {self.products}"
            )
        if self.chunk_size < 1:
            raise InputError(f"chunk_size must be >= 1, got {self.chunk_size}")


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *stream]))


def generate_sample(out_dir: Path, config: SampleConfig | None = None, show_progress: bool = True) -> dict:
    """Write a complete import-format dataset (+ ``truth/``) to ``out_dir``; returns a summary."""
    config = config or SampleConfig()
    config.validate()
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    truth = out_dir / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    start, end = start_end(config.months, config.start)

    catalog = build_catalog(config.products, _rng(config.seed, 1), start, end)
    products = catalog.products
    write_parquet(to_arrow(products, schemas.PRODUCTS), out_dir / "products.parquet")
    write_parquet(to_arrow(catalog.stores, schemas.STORES), out_dir / "stores.parquet")
    attrs = products[["sku", "category", "family_id", "model", "popularity", "is_new"]].assign(
        features=products["features"].map("|".join)
    )
    write_parquet(pa.Table.from_pandas(attrs, preserve_index=False), truth / "product_attributes.parquet")

    queries, judgments, specs = build_labelled_queries(products, _rng(config.seed, 2))
    write_parquet(to_arrow(queries, schemas.QUERIES), out_dir / "queries.parquet")
    write_parquet(to_arrow(judgments, schemas.JUDGMENTS), out_dir / "judgments.parquet")
    write_parquet(pa.Table.from_pandas(specs, preserve_index=False), truth / "query_specs.parquet")

    labelled = {q.lower() for q in queries["query"]}
    world = World(catalog, start, end, labelled, _rng(config.seed, 3))
    write_parquet(pa.Table.from_pandas(world.bundle_table, preserve_index=False), truth / "bundles.parquet")
    write_parquet(to_arrow(catalog.inventory, schemas.INVENTORY), out_dir / "inventory.parquet")

    customers = ParquetStream(out_dir / "customers.parquet", schemas.CUSTOMERS)
    unsubscribes = ParquetStream(out_dir / "unsubscribes.parquet", schemas.UNSUBSCRIBES)
    identities = ParquetStream(truth / "identities.parquet", schema=IDENTITY_SCHEMA)
    persons = ParquetStream(truth / "persons.parquet", schema=PERSON_SCHEMA)
    event_persons = ParquetStream(
        truth / "event_persons.parquet", schema=EVENT_PERSON_SCHEMA, rows_per_group=1_000_000
    )
    events = EventWriter(out_dir / "events.jsonl.gz")

    n_chunks = -(-config.customers // config.chunk_size)
    for chunk in tqdm(range(n_chunks), desc="people", unit="chunk", disable=not show_progress):
        rng = _rng(config.seed, 7, chunk)
        sim = PersonSimulator(world, rng, IdGen(chunk))
        first = chunk * config.chunk_size
        records, unsub_rows, person_rows, chunk_events, id_rows = [], [], [], [], []
        for index in range(first, min(first + config.chunk_size, config.customers)):
            person = make_person(index, rng, start, end)
            records.extend(customer_records(person, rng, start))
            for ts, seq, fields in sim.simulate(person):
                chunk_events.append((ts, person.index, seq, fields))
            if person.unsubscribed_at is not None:
                unsub_rows.append(
                    dict(
                        email=person.email(rng, person.consent_email or 0),
                        unsubscribed_at=pd.Timestamp(int(person.unsubscribed_at), unit="s", tz="UTC"),
                    )
                )
            person_rows.append(_person_row(person))
            id_rows.extend(
                (k, v, normalize_identifier(k, v), person.person_id) for k, v in sorted(person.used)
            )
        chunk_events.sort(key=lambda e: (e[0], e[1], e[2]))
        ids = events.write([(ts, seq, fields) for ts, _, seq, fields in chunk_events])
        event_persons.write(
            pd.DataFrame({"event_id": ids, "person_id": [f"P{e[1] + 1:07d}" for e in chunk_events]})
        )
        customers.write(pd.DataFrame(records))
        identities.write(pd.DataFrame(id_rows, columns=IDENTITY_SCHEMA.names))
        unsubscribes.write(pd.DataFrame(unsub_rows, columns=["email", "unsubscribed_at"]))
        persons.write(pd.DataFrame(person_rows, columns=PERSON_SCHEMA.names))
    for stream in (customers, unsubscribes, identities, persons, event_persons):
        stream.close()
    events.close()
    summary = dict(
        config={k: (str(v) if isinstance(v, datetime) else v) for k, v in asdict(config).items()},
        period=[start.isoformat(), end.isoformat()],
        products=len(products),
        categories=int(products["category"].str.split(" > ").str[0].nunique()),
        stores=len(catalog.stores),
        inventory_rows=len(catalog.inventory),
        customers_records=customers.rows,
        persons=config.customers,
        unsubscribes=unsubscribes.rows,
        queries=len(queries),
        judgments=len(judgments),
        bundles=int(world.bundle_table["bundle_id"].nunique()),
        events=events.count,
        events_by_type=events.by_type,
        seconds=round(time.perf_counter() - t0, 1),
    )
    return summary


def _person_row(p) -> dict:
    return dict(
        person_id=p.person_id,
        country=p.country,
        home_store_id=vocab.STORES[p.home_store][0],
        favourite_categories="|".join(TOPS[i] for i in p.fav_tops),
        favourite_brands="|".join(p.fav_brand.values()),
        price_sensitivity=p.price_beta,
        has_loyalty=p.has_loyalty,
        has_web=p.has_web,
        has_app=p.has_app,
        n_emails=len(p.emails),
        n_phones=len(p.phones),
        unsubscribed=p.unsubscribed_at is not None,
    )
