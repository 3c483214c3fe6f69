"""A large dataset in the import format, generated in minutes: the training benchmark's 1M-customer /
20M-event scale.

``training/sample`` simulates every person step by step (realistic, about 2 h per million people on 2
cores); this module draws the same kinds of tables with whole-array numpy and pyarrow operations,
one chunk of people at a time, so a million customers take minutes and bounded memory. What it
keeps from the sample, because the pipeline's stages depend on it:

* **catalog**: ``products`` skus recombined from ``data_samples/products.parquet`` by
  ``common.generated_products`` (titles perturbed, attributes and description of the source);
* **topics**: every item belongs to a (category, brand) topic; a person has a primary and a
  secondary topic and each visit draws its lines from one of them or from the bestsellers
  (``scale_world.draw_items``), so CF and co-purchase have signal;
* **split identities**: POS receipts carry the loyalty id (when the card is scanned), web events
  the account email (when logged in), web orders the typed email (sometimes a work address, sometimes
  with the loyalty number), app events both; loyalty / web / app records each hold part of a person's
  identifiers, in varied spellings, so identity resolution has records to merge.

No ``truth/`` folder is written: the pipeline's identity metrics against truth are a sample-only
evaluation.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from common import REPO, console, generated_products
from scale_world import draw_items

from models import schemas
from training.sample import vocab

START = pd.Timestamp("2026-03-01", tz="UTC")
CHANNELS = ("store", "web", "app", "email", "marketplace")
WEB_TYPES = ("view", "add_to_cart", "purchase", "search_click", "search")
WEB_TYPE_P = (0.55, 0.15, 0.15, 0.10, 0.05)
LOYALTY_MULTIPLIER = 2_654_435_761  # odd and not a multiple of 5: a bijection on 0..10^9-1


@dataclass(frozen=True)
class ScaleSpec:
    """What to generate; the cache key of a generated directory is made of these fields."""

    customers: int = 1_000_000
    products: int = 20_000
    events_per_customer: float = 20.0
    months: int = 7
    seed: int = 42
    chunk_customers: int = 100_000

    def key(self) -> str:
        return f"scale-c{self.customers}-p{self.products}-e{self.events_per_customer:g}-m{self.months}-s{self.seed}"


def _fmt(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded decimal ``numbers``, built in Arrow (no Python loop per row)."""
    digits = pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _join(*parts: object) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _where(mask: np.ndarray, values: pa.Array) -> pa.Array:
    """``values`` where ``mask``, null elsewhere."""
    return pc.if_else(pa.array(mask), values, pa.scalar(None, values.type))


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str], n: int) -> pa.Array:
    return pc.take(pa.array(list(options)), pa.array(rng.integers(0, len(options), n)))


# --- catalog, stores, inventory -----------------------------------------------------------------
def build_catalog(spec: ScaleSpec, sample: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(products table, topic of each item, draw weight of each item)."""
    rng = np.random.default_rng(spec.seed)
    products, source = generated_products(sample, np.zeros(len(sample)), spec.products, seed=spec.seed)
    src = sample.iloc[source].reset_index(drop=True)
    products = products.drop(columns=["popularity"])
    products["price"] = np.round(products["price"].to_numpy() * rng.uniform(0.85, 1.15, spec.products), 2)
    products["list_price"] = np.round(
        products["price"] * np.where(rng.random(spec.products) < 0.3, 1.2, 1.0), 2
    )
    products["description"] = src["description"].to_numpy()
    products["material"] = src["material"].to_numpy()
    for channel, p in (("store", 0.9), ("web", 0.95), ("app", 0.95), ("marketplace", 0.2)):
        products[f"available_{channel}"] = rng.random(spec.products) < p
    end = START + pd.DateOffset(months=spec.months)
    age_days = rng.uniform(14, 900, spec.products)
    new = rng.random(spec.products) < 0.03  # listed in the last two weeks: no behaviour yet
    age_days[new] = rng.uniform(0, 14, int(new.sum()))
    products["created_at"] = (end - pd.to_timedelta(age_days, unit="D")).floor("s")
    topic = pd.factorize(products["category"].astype(str) + "|" + products["brand"].fillna("").astype(str))[0]
    popularity = rng.lognormal(0.0, 1.2, spec.products)
    popularity[new] = 1e-6  # (almost) never drawn; > 0 so a topic of only new items still has a share
    cols = [c.name for c in schemas.PRODUCTS.columns]
    return products.reindex(columns=cols), topic.astype(np.int64), popularity  # title_bn etc. empty


def build_stores() -> pd.DataFrame:
    return pd.DataFrame(vocab.STORES, columns=["store_id", "name", "city", "country"])


def build_inventory(rng: np.random.Generator, stores: pd.DataFrame, skus: pd.Series) -> pd.DataFrame:
    """Each store carries ~70% of the catalog; ~12% of what it carries is out of stock."""
    n_st, n_sku = len(stores), len(skus)
    carried = rng.random((n_st, n_sku)) < 0.7
    st, sk = np.nonzero(carried)
    stock = np.where(rng.random(len(st)) < 0.12, 0, rng.poisson(9, len(st)) + 1)
    return pd.DataFrame(
        {
            "store_id": stores["store_id"].to_numpy()[st],
            "sku": skus.to_numpy()[sk],
            "stock": stock.astype(np.int64),
        }
    )


# --- people ---------------------------------------------------------------------------------------
@dataclass
class People:
    """One chunk of people: per-person facts (numpy) and identifiers (Arrow strings)."""

    pid: np.ndarray
    country: np.ndarray  # index into COUNTRIES
    home_store: pa.Array
    has_loyalty: np.ndarray
    has_web: np.ndarray
    has_app: np.ndarray
    has_work: np.ndarray
    primary: np.ndarray
    secondary: np.ndarray
    loyalty: pa.Array
    email: pa.Array
    work_email: pa.Array
    phone: pa.Array


COUNTRIES = tuple(vocab.COUNTRY_SHARE)
CALLING_CODE = {"BR": "55", "IN": "91", "US": "1"}


def _by_country(rng: np.random.Generator, country: np.ndarray, table: dict[str, tuple[str, ...]]) -> pa.Array:
    """One entry of ``table[country]`` per person, uniformly."""
    out = np.empty(len(country), dtype=object)
    for c, name in enumerate(COUNTRIES):
        rows = np.flatnonzero(country == c)
        options = np.asarray(table[name], dtype=object)
        out[rows] = options[rng.integers(0, len(options), len(rows))]
    return pa.array(out, pa.string())


def draw_people(rng: np.random.Generator, start: int, n: int, n_topics: int) -> People:
    pid = np.arange(start, start + n, dtype=np.int64)
    country = rng.choice(len(COUNTRIES), n, p=list(vocab.COUNTRY_SHARE.values()))
    stores = {c: [s[0] for s in vocab.STORES if s[3] == c] for c in COUNTRIES}
    home_store = _by_country(rng, country, {c: tuple(stores[c]) for c in COUNTRIES})
    has_app = rng.random(n) < 0.25
    has_loyalty = (rng.random(n) < 0.6) | has_app  # the app logs in with the loyalty card
    has_web = rng.random(n) < 0.55
    has_web |= ~has_loyalty  # everyone has at least one account
    has_work = has_web & (rng.random(n) < 0.2)
    first = pc.utf8_lower(_by_country(rng, country, vocab.FIRST_NAMES))
    last = pc.utf8_lower(_by_country(rng, country, vocab.LAST_NAMES))
    ids = pc.cast(pa.array(pid), pa.string())
    email = _join(first, ".", last, ids, "@", _by_country(rng, country, vocab.EMAIL_DOMAINS))
    work_email = _join(
        pc.utf8_slice_codeunits(first, 0, 1), last, ".", ids, "@", _pick(rng, vocab.WORK_DOMAINS, n)
    )
    loyalty = _fmt("LY", (pid * LOYALTY_MULTIPLIER + 12345) % 1_000_000_000, 9)
    national = _fmt("9", (pid * 7_919 + 1_000_003) % 1_000_000_000, 9)  # 10 digits, unique per person
    code = pc.take(pa.array([CALLING_CODE[c] for c in COUNTRIES]), pa.array(country))
    styled = rng.random(n) < 0.5  # '+55 9123456789' or '(91) 2345-6789' (same last 10 digits)
    plus = _join("+", code, " ", national)
    local = _join(
        "(",
        pc.utf8_slice_codeunits(national, 0, 2),
        ") ",
        pc.utf8_slice_codeunits(national, 2, 6),
        "-",
        pc.utf8_slice_codeunits(national, 6, 10),
    )
    phone = pc.if_else(pa.array(styled), plus, local)
    return People(
        pid=pid,
        country=country,
        home_store=home_store,
        has_loyalty=has_loyalty,
        has_web=has_web,
        has_app=has_app,
        has_work=has_work,
        primary=rng.integers(0, n_topics, n),
        secondary=rng.integers(0, n_topics, n),
        loyalty=loyalty,
        email=email,
        work_email=work_email,
        phone=phone,
    )


def _messy_email(rng: np.random.Generator, emails: pa.Array) -> pa.Array:
    """How people type their address: sometimes Capitalised, sometimes with a trailing space."""
    u = rng.random(len(emails))
    out = pc.if_else(pa.array(u < 0.1), pc.utf8_capitalize(emails), emails)
    return pc.if_else(pa.array(u > 0.95), _join(out, " "), out)


def customer_records(rng: np.random.Generator, people: People, months: int) -> pa.Table:
    """Loyalty records (loyalty id + phone, sometimes the email), web accounts (email only) and app
    accounts (loyalty id + email): a person's identifiers are spread over several records."""
    parts = []
    end = START + pd.DateOffset(months=months)
    for source, prefix, mask in (
        ("loyalty", "LOY-", people.has_loyalty),
        ("web", "WEB-", people.has_web),
        ("app", "APP-", people.has_app),
    ):
        rows = np.flatnonzero(mask)
        n = len(rows)
        take = pa.array(rows)
        email = _messy_email(rng, pc.take(people.email, take))
        with_email = np.ones(n, bool) if source != "loyalty" else rng.random(n) < 0.3
        created = (end - pd.to_timedelta(rng.uniform(30, 1500, n), unit="D")).floor("s")
        parts.append(
            pa.table(
                {
                    "record_id": _fmt(prefix, people.pid[rows], 8),
                    "source": pa.array([source] * n, pa.string()),
                    "loyalty_id": pc.take(people.loyalty, take)
                    if source != "web"
                    else pa.nulls(n, pa.string()),
                    "email": _where(with_email, email),
                    "phone": pc.take(people.phone, take) if source == "loyalty" else pa.nulls(n, pa.string()),
                    "email_consent": pa.array(rng.random(n) < 0.6),
                    "home_store_id": pc.take(people.home_store, take)
                    if source != "web"
                    else pa.nulls(n, pa.string()),
                    "created_at": pa.array(created.to_numpy(), schemas.TS),
                    "loyalty_tier": pa.nulls(n, pa.string()),  # no loyalty programme
                    "loyalty_points": pa.nulls(n, pa.int64()),
                    "loyalty_joined": pa.nulls(n, schemas.TS),
                },
                schema=schemas.CUSTOMERS.schema,
            )
        )
    return pa.concat_tables(parts)


# --- events ---------------------------------------------------------------------------------------
def _visit_channels(rng: np.random.Generator, people: People, person: np.ndarray) -> np.ndarray:
    """Channel of each visit, from the accounts its person has (index into CHANNELS)."""
    w = np.zeros((len(person), len(CHANNELS)))
    w[:, 0] = 1.0
    w[:, 1] = np.where(people.has_web[person], 0.9, 0.2)  # without an account: guest web shopping
    w[:, 2] = np.where(people.has_app[person], 1.0, 0.0)
    w[:, 3] = np.where(people.has_web[person], 0.35, 0.0)
    w[:, 4] = 0.03
    cum = np.cumsum(w, axis=1)
    u = rng.random(len(person)) * cum[:, -1]
    return (u[:, None] >= cum).sum(axis=1)


def event_chunk(
    rng: np.random.Generator,
    people: People,
    catalog: pd.DataFrame,
    item_topic: np.ndarray,
    popularity: np.ndarray,
    spec: ScaleSpec,
    first_event: int,
) -> pa.Table:
    """Every event of one chunk of people, as an Arrow table in the events schema."""
    n = len(people.pid)
    visits_mean = max(spec.events_per_customer / 3.4, 1.0)
    n_visits = 1 + rng.poisson(visits_mean - 1, n)
    person = np.repeat(np.arange(n), n_visits)
    nv = len(person)
    channel = _visit_channels(rng, people, person)
    span = ((START + pd.DateOffset(months=spec.months)) - START).total_seconds()
    visit_ts = START.value // 1000 + rng.integers(0, int(span) - 3600, nv) * 1_000_000  # microseconds
    source = rng.choice(3, nv, p=(0.6, 0.25, 0.15))
    topic = np.where(source == 0, people.primary[person], np.where(source == 1, people.secondary[person], -1))
    mail_visit = channel == 3
    n_lines = 1 + (rng.random(nv) < 0.1)  # a campaign email, sometimes one click
    other = int((~mail_visit).sum())
    lines_mean = (spec.events_per_customer * n - n_lines[mail_visit].sum()) / max(other, 1)
    n_lines[~mail_visit] = 1 + rng.poisson(max(lines_mean - 1, 0.0), other)
    visit = np.repeat(np.arange(nv), n_lines)
    m = len(visit)
    line_no = np.arange(m) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines)
    ch = channel[visit]
    p = person[visit]
    item = draw_items(rng, topic[visit], item_topic, popularity)

    t = {name: i for i, name in enumerate(schemas.EVENT_TYPES)}
    etype = np.full(m, t["purchase"], dtype=np.int8)  # stores and marketplace: receipt lines
    online = (ch == 1) | (ch == 2)
    web_codes = np.array([t[x] for x in WEB_TYPES], dtype=np.int8)
    etype[online] = web_codes[rng.choice(len(WEB_TYPES), int(online.sum()), p=WEB_TYPE_P)]
    store = ch == 0
    etype[store & (rng.random(m) < 0.03)] = t["return"]
    mail = ch == 3
    etype[mail] = np.where(line_no[mail] == 0, t["email_send"], t["email_click"])
    has_sku = (etype != t["search"]) & (etype != t["email_send"])
    order = (etype == t["purchase"]) | (etype == t["return"])
    qty_types = order | (etype == t["add_to_cart"])
    searched = (etype == t["search"]) | (etype == t["search_click"])

    # identifiers: decided per visit so the lines of one receipt or order agree
    scanned = people.has_loyalty[person] & (rng.random(nv) < 0.8)
    till_phone = scanned & (rng.random(nv) < 0.05)
    logged_in = people.has_web[person] & (rng.random(nv) < 0.6)
    work = people.has_work[person] & (rng.random(nv) < 0.3)
    typed_loyalty = people.has_loyalty[person] & (rng.random(nv) < 0.15)
    v_loyalty = (store & scanned[visit]) | (ch == 2) | ((ch == 1) & order & typed_loyalty[visit])
    v_email = (ch == 2) | (ch == 3) | ((ch == 1) & (logged_in[visit] | order))
    v_work = (ch == 1) & order & work[visit] & ~logged_in[visit]
    v_phone = store & till_phone[visit]

    take_p = pa.array(p)
    email = pc.if_else(pa.array(v_work), pc.take(people.work_email, take_p), pc.take(people.email, take_p))
    email = _messy_email(rng, email)
    skus = pc.take(pa.array(catalog["sku"].to_numpy()), pa.array(item))
    leaf = pc.take(
        pa.array(catalog["category"].str.split(" > ").str[-1].str.lower().to_numpy()), pa.array(item)
    )
    n_store = np.where(rng.random(nv) < 0.9, 0, 1)  # 10% of receipts in the other store of the country
    store_ids = pc.take(
        pa.array([s[0] for s in vocab.STORES]), pa.array(_store_index(people, person, n_store)[visit])
    )
    month = pd.DatetimeIndex(pd.to_datetime(visit_ts[visit], unit="us")).month.to_numpy()
    themes = vocab.CAMPAIGN_THEMES
    campaign = pa.array([f"{START.year}-{mo:02d}-{themes[mo % len(themes)]}" for mo in range(1, 13)])
    price = catalog["price"].to_numpy()[item]
    quantity = 1 + (rng.random(m) < 0.08)
    # unique across chunks: a chunk has at least one event per visit
    global_visit = first_event + np.arange(nv, dtype=np.int64)
    columns = {
        "event_id": _fmt("E", first_event + np.arange(m), 10),
        "type": pc.take(pa.array(list(schemas.EVENT_TYPES)), pa.array(etype)),
        "timestamp": pa.array(visit_ts[visit] + line_no * 40_000_000, schemas.TS),
        "channel": pc.take(pa.array(list(CHANNELS)), pa.array(ch)),
        "sku": _where(has_sku, skus),
        "quantity": pa.array(quantity.astype(np.int64), mask=~qty_types),
        "price": pa.array(price, mask=~order),
        "store_id": _where(store, store_ids),
        "basket_id": _where(order, _fmt("B", global_visit[visit], 10)),
        "session_id": _where(online, _fmt("S", global_visit[visit], 10)),
        "loyalty_id": _where(v_loyalty, pc.take(people.loyalty, take_p)),
        "email": _where(v_email, email),
        "phone": _where(v_phone, pc.take(people.phone, take_p)),
        "query": _where(searched, leaf),
        "campaign": _where(mail, pc.take(campaign, pa.array(month - 1))),
        # the generator simulates no served answers: nothing to quote (the live service fills these)
        "request_id": pa.nulls(m, pa.string()),
        "position": pa.nulls(m, pa.int64()),
    }
    return pa.table(columns, schema=schemas.EVENTS.schema)


def _store_index(people: People, person: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The home store, or (``other`` == 1) the country's other store: two stores per country."""
    home = pd.Index([s[0] for s in vocab.STORES]).get_indexer(
        pc.take(people.home_store, pa.array(person)).to_numpy(False)
    )
    return np.where(other == 1, home ^ 1, home)


# --- the whole directory --------------------------------------------------------------------------
def generate(spec: ScaleSpec, out: Path, sample_dir: Path = REPO / "data_samples") -> dict[str, float]:
    """Write every import-format table of ``spec`` into ``out``; returns row counts and seconds."""
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    products, item_topic, popularity = build_catalog(spec, pd.read_parquet(sample_dir / "products.parquet"))
    _write(
        pa.Table.from_pandas(products, schema=schemas.PRODUCTS.schema, preserve_index=False),
        out / "products.parquet",
    )
    stores = build_stores()
    _write(
        pa.Table.from_pandas(stores, schema=schemas.STORES.schema, preserve_index=False),
        out / "stores.parquet",
    )
    inventory = build_inventory(rng, stores, products["sku"])
    _write(
        pa.Table.from_pandas(inventory, schema=schemas.INVENTORY.schema, preserve_index=False),
        out / "inventory.parquet",
    )
    n_topics = int(item_topic.max()) + 1
    counts = {
        "products": len(products),
        "stores": len(stores),
        "inventory": len(inventory),
        "customers": 0,
        "events": 0,
        "unsubscribes": 0,
        "people": spec.customers,
    }
    records, unsubscribed = [], []
    with pq.ParquetWriter(out / "events.parquet", schemas.EVENTS.schema) as writer:
        for start in range(0, spec.customers, spec.chunk_customers):
            n = min(spec.chunk_customers, spec.customers - start)
            people = draw_people(rng, start, n, n_topics)
            table = event_chunk(rng, people, products, item_topic, popularity, spec, counts["events"])
            writer.write_table(table, row_group_size=500_000)
            counts["events"] += table.num_rows
            records.append(customer_records(rng, people, spec.months))
            unsub = np.flatnonzero(people.has_web & (rng.random(n) < 0.03))
            unsubscribed.append(_messy_email(rng, pc.take(people.email, pa.array(unsub))))
            console.print(f"  people {start + n:,} / {spec.customers:,}: {counts['events']:,} events")
    customers = pa.concat_tables(records)
    counts["customers"] = customers.num_rows
    _write(customers, out / "customers.parquet")
    emails = pa.chunked_array(unsubscribed, pa.string()).combine_chunks()
    when = (START + pd.to_timedelta(rng.uniform(0, 200, len(emails)), unit="D")).floor("s")
    unsub_table = pa.table(
        {"email": emails, "unsubscribed_at": pa.array(when.to_numpy(), schemas.TS)},
        schema=schemas.UNSUBSCRIBES.schema,
    )
    counts["unsubscribes"] = unsub_table.num_rows
    _write(unsub_table, out / "unsubscribes.parquet")
    counts["seconds"] = round(time.perf_counter() - t0, 1)
    return counts


def _write(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=ScaleSpec.customers)
    parser.add_argument("--products", type=int, default=ScaleSpec.products)
    parser.add_argument("--events-per-customer", type=float, default=ScaleSpec.events_per_customer)
    parser.add_argument("--months", type=int, default=ScaleSpec.months)
    parser.add_argument("--seed", type=int, default=ScaleSpec.seed)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    spec = ScaleSpec(args.customers, args.products, args.events_per_customer, args.months, args.seed)
    console.print(generate(spec, args.out))


if __name__ == "__main__":
    main()
