"""Ingest and validate import-format data.

Every row that breaks the contract goes to a quarantine file with its reason and is counted in
the report; nothing is silently dropped and no bad row stops the run. Validation is vectorised
with pandas, one batch of events at a time.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from models import schemas
from models.columns import as_str
from models.errors import OmnirankError
from models.pii import normalize_email, normalize_loyalty_id, normalize_phone
from training.memory import release_unused_memory

SKU_EVENT_TYPES = frozenset(schemas.EVENT_TYPES) - {"search", "email_send"}


class DataError(OmnirankError, ValueError):
    """The data directory cannot be trained on at all (a required table is missing or unreadable)."""


@dataclass
class IngestResult:
    products: pd.DataFrame
    stores: pd.DataFrame
    inventory: pd.DataFrame
    customers: pd.DataFrame
    unsubscribes: pd.DataFrame
    events: pd.DataFrame
    queries: pd.DataFrame | None
    judgments: pd.DataFrame | None
    input_files: list[Path]
    quarantine_counts: Counter = field(default_factory=Counter)

    def report(self) -> dict:
        by_table: dict[str, dict[str, int]] = {}
        for (table, reason), n in sorted(self.quarantine_counts.items()):
            by_table.setdefault(table, {})[reason] = int(n)
        return {
            "rows": {
                "products": len(self.products),
                "stores": len(self.stores),
                "inventory": len(self.inventory),
                "customers": len(self.customers),
                "unsubscribes": len(self.unsubscribes),
                "events": len(self.events),
            },
            "quarantined": by_table,
            "quarantined_total": int(sum(self.quarantine_counts.values())),
        }


class Quarantine:
    """Appends rejected rows, with table and reason, to one JSONL file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "w", encoding="utf-8")
        self.counts: Counter = Counter()

    def add(self, table: str, rows: pd.DataFrame, reason: str | pd.Series) -> None:
        if rows.empty:
            return
        reasons = reason if isinstance(reason, pd.Series) else pd.Series(reason, index=rows.index)
        records = rows.drop(columns=[c for c in rows.columns if c.startswith("_")], errors="ignore")
        for (_, row), why in zip(records.iterrows(), reasons, strict=True):
            payload = {k: (None if _isnull(v) else str(v)) for k, v in row.items()}
            self._fh.write(json.dumps({"table": table, "reason": why, "row": payload}) + "\n")
            self.counts[(table, why)] += 1

    def close(self) -> None:
        self._fh.close()


def _isnull(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT


PER_ROW_NUMBERS = frozenset({"loyalty_points"})
"""Numbers a CSV gives as text, checked per row (a typo quarantines that row, not the file)."""


def read_table(data_dir: Path, name: str) -> pd.DataFrame | None:
    """Read one import-format table as strings-or-native columns; ``None`` when absent."""
    path = schemas.find_table_file(data_dir, name)
    if path is None:
        return None
    try:
        if path.suffix == ".csv":
            table = pacsv.read_csv(
                path,
                convert_options=pacsv.ConvertOptions(
                    column_types={
                        c.name: c.type
                        for c in schemas.TABLES[name].columns
                        if c.type != schemas.TS and c.name not in PER_ROW_NUMBERS
                    }
                ),
            )
        else:
            table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - any reader error is a user-facing data error
        raise DataError(f"cannot read {path}: {exc}") from exc
    df = table.to_pandas()
    missing = [c for c in schemas.TABLES[name].required if c not in df.columns]
    if missing:
        raise DataError(f"{path} lacks required column(s) {missing}; see data_samples/README.md")
    for col in schemas.TABLES[name].columns:
        if col.name not in df.columns:
            df[col.name] = None
    return df


def _missing_required(df: pd.DataFrame, spec: schemas.TableSpec) -> pd.Series:
    """Reason per row for the first missing required field, '' when complete."""
    reason = pd.Series("", index=df.index, dtype=object)
    for name in spec.required:
        reason = reason.where(~(_blank(df[name]) & (reason == "")), f"missing {name}")
    return reason


def _blank(values: pd.Series) -> pd.Series:
    """Missing or whitespace-only. Typed columns (a Parquet timestamp, a number) can only be missing:
    formatting 20M timestamps as text just to strip them would cost minutes."""
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return values.isna()
    return values.isna() | (values.astype(str).str.strip() == "")


def _isin(values: pd.Series, allowed: pa.Array) -> pd.Series:
    """``values.isin(allowed)`` as one Arrow hash lookup (missing values are not in): pandas' Arrow
    string ``isin`` builds a Python scalar per allowed value on every call."""
    array = pa.array(values, from_pandas=True)
    if array.type != pa.string():
        array = array.cast(pa.string())
    found = pc.is_in(array, value_set=allowed).fill_null(False)
    return pd.Series(found.to_numpy(zero_copy_only=False), index=values.index)


def _split(df: pd.DataFrame, reason: pd.Series, table: str, quarantine: Quarantine) -> pd.DataFrame:
    bad = reason != ""
    quarantine.add(table, df[bad], reason[bad])
    return df[~bad]


def _validate_products(df: pd.DataFrame, q: Quarantine) -> pd.DataFrame:
    reason = _missing_required(df, schemas.PRODUCTS)
    price = pd.to_numeric(df["price"], errors="coerce")
    reason = reason.where(~((reason == "") & (price.isna() | (price < 0))), "invalid price")
    target_bad = df["target"].notna() & ~df["target"].isin(schemas.TARGETS)
    reason = reason.where(~((reason == "") & target_bad), "unknown target")
    dup = df["sku"].duplicated(keep="first")
    reason = reason.where(~((reason == "") & dup), "duplicate sku")
    df = _split(df, reason, "products", q).copy()
    df["sku"] = df["sku"].astype(str)
    df["price"] = pd.to_numeric(df["price"])
    df["list_price"] = pd.to_numeric(df["list_price"], errors="coerce").fillna(df["price"])
    defaults = {
        "available_store": True,
        "available_web": True,
        "available_app": True,
        "available_marketplace": False,
    }
    for col, default in defaults.items():
        df[col] = _bool_column(df[col], default)
    df["replenishment_days"] = pd.to_numeric(df["replenishment_days"], errors="coerce")
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True, errors="coerce")
    for col in ("description", "brand", "color", "size", "material", "target"):
        df[col] = df[col].where(df[col].notna(), None)
    df["member_tier_min"] = _tier_names(df["member_tier_min"])
    return df.reset_index(drop=True)


def _tier_names(values: pd.Series) -> pd.Series:
    """Loyalty tier names, trimmed; a blank one is no tier (None)."""
    text = values.map(lambda v: None if _isnull(v) else (str(v).strip() or None))
    return text.astype(object).where(text.notna(), None)


def _bool_column(values: pd.Series, default: bool) -> pd.Series:
    """A boolean column; a Parquet bool column (the common case, millions of customer records)
    skips the per-value parsing that CSV text needs."""
    if pd.api.types.is_bool_dtype(values) and not values.isna().any():
        return values.astype(bool)
    return values.map(_to_bool).fillna(default).astype(bool)


def _to_bool(value: object) -> bool | None:
    if _isnull(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    if text in {"true", "1", "yes", "y", "t"}:
        return True
    if text in {"false", "0", "no", "n", "f"}:
        return False
    return None


def _validate_simple(df: pd.DataFrame | None, spec: schemas.TableSpec, q: Quarantine) -> pd.DataFrame:
    if df is None:
        return pd.DataFrame({c.name: pd.Series(dtype=object) for c in spec.columns})
    reason = _missing_required(df, spec)
    if spec.key:
        dup = df.duplicated(subset=list(spec.key), keep="first")
        reason = reason.where(~((reason == "") & dup), f"duplicate {'/'.join(spec.key)}")
    return _split(df, reason, spec.name, q).reset_index(drop=True)


def _validate_customers(df: pd.DataFrame | None, q: Quarantine) -> pd.DataFrame:
    df = _validate_simple(df, schemas.CUSTOMERS, q)
    if df.empty:
        return df
    reason = pd.Series("", index=df.index, dtype=object)
    has_any = df[["loyalty_id", "email", "phone"]].notna().any(axis=1)
    reason = reason.where(has_any, "no identifier")
    reason = reason.where(~((reason == "") & _malformed_ids(df)), "malformed identifier")
    df = _split(df, reason, "customers", q).copy()
    df["email_consent"] = _bool_column(df["email_consent"], False)
    return df.reset_index(drop=True)


LOYALTY_COLUMNS = ("loyalty_tier", "loyalty_points", "loyalty_joined")


def _validate_loyalty(df: pd.DataFrame, q: Quarantine, latest: pd.Timestamp | None) -> pd.DataFrame:
    """The customer records' loyalty facts, checked per row. A blank tier is no membership (null);
    points that are not a whole number or negative, and a joined date that does not parse or is
    after the export (the day of its latest event, ``latest``), reject the row's loyalty facts: the
    row goes to quarantine with the reason and the record itself is kept, without them (its
    identifiers and consent still count)."""
    if df.empty:
        return df
    df = df.copy()
    tier = _tier_names(df["loyalty_tier"])
    raw_points, raw_joined = df["loyalty_points"], df["loyalty_joined"]
    points = pd.to_numeric(raw_points, errors="coerce")
    joined = pd.to_datetime(raw_joined, utc=True, errors="coerce", format="mixed")
    reason = pd.Series("", index=df.index, dtype=object)

    def flag(mask: pd.Series, why: str) -> None:
        nonlocal reason
        reason = reason.where(~((reason == "") & mask), why)

    flag(~_blank(raw_points) & (points.isna() | (points != np.floor(points))), "invalid loyalty_points")
    flag(points < 0, "negative loyalty_points")
    flag(~_blank(raw_joined) & joined.isna(), "invalid loyalty_joined")
    if latest is not None and not pd.isna(latest):
        flag(joined.dt.normalize() > pd.Timestamp(latest).normalize(), "loyalty_joined in the future")
    bad = reason != ""
    q.add("customers", df[bad], reason[bad])
    df["loyalty_tier"] = tier.where(~bad, None)
    df["loyalty_points"] = points.where(~bad).astype(np.float64)
    df["loyalty_joined"] = joined.where(~bad)
    return df


def _malformed_ids(df: pd.DataFrame) -> pd.Series:
    """An identifier that is present but does not normalise (e.g. 'bob@' or a 3-digit phone)."""
    bad = pd.Series(False, index=df.index)
    for col, norm in (
        ("email", normalize_email),
        ("phone", normalize_phone),
        ("loyalty_id", normalize_loyalty_id),
    ):
        present = df[col].notna() & (df[col].astype(str).str.strip() != "")
        if present.any():
            # Normalise each distinct value once: a loyalty id repeats on every receipt of a person.
            values = df.loc[present, col]
            uniques = pd.Series(values.unique())
            failed = uniques[uniques.map(norm).isna()]
            if len(failed):
                bad.loc[present] |= values.isin(failed.tolist())
    return bad


def _validate_event_batch(
    df: pd.DataFrame, skus: pa.Array, store_ids: pa.Array, q: Quarantine
) -> pd.DataFrame:
    """Clean one batch; a replay of an event id from an earlier batch is caught by
    ``_drop_replayed_ids`` once all batches are in (a set of 20M ids would cost gigabytes)."""
    reason = pd.Series("", index=df.index, dtype=object)
    if "_error" in df.columns:
        reason = reason.where(df["_error"].isna(), "invalid JSON")
        df = df.assign(_raw_error=df["_error"])

    def flag(mask: pd.Series, why: str) -> None:
        nonlocal reason
        reason = reason.where(~((reason == "") & mask), why)

    for name in schemas.EVENTS.required:
        flag(_blank(df[name]), f"missing {name}")
    ts = pd.to_datetime(df["timestamp"], utc=True, errors="coerce", format="ISO8601")
    flag(ts.isna(), "bad timestamp")
    flag(~df["type"].isin(schemas.EVENT_TYPES), "unknown event type")
    flag(~df["channel"].isin(schemas.CHANNELS), "unknown channel")
    needs_sku = df["type"].isin(SKU_EVENT_TYPES)
    flag(needs_sku & df["sku"].isna(), "missing sku")
    flag(df["sku"].notna() & ~_isin(df["sku"], skus), "unknown sku")
    qty = pd.to_numeric(df["quantity"], errors="coerce")
    qty_given = df["quantity"].notna()
    flag(qty_given & (qty.isna() | (qty <= 0) | (qty != np.floor(qty))), "invalid quantity")
    price = pd.to_numeric(df["price"], errors="coerce")
    flag(df["price"].notna() & (price.isna() | (price < 0)), "invalid price")
    if len(store_ids):
        flag(df["store_id"].notna() & ~_isin(df["store_id"], store_ids), "unknown store")
    flag(_malformed_ids(df), "malformed identifier")
    flag(df["event_id"].duplicated(keep="first"), "duplicate event_id")

    bad = reason != ""
    q.add("events", df[bad].assign(_error=None), reason[bad])
    good = df[~bad].copy()
    good["timestamp"] = ts[~bad]
    good["quantity"] = qty[~bad].fillna(1).astype(np.int64)
    good["price"] = price[~bad]
    return good.drop(columns=[c for c in good.columns if c.startswith("_")])


def ingest(data_dir: Path, quarantine_path: Path, batch_size: int = 200_000) -> IngestResult:
    """Read, validate and clean a data directory; rejected rows go to ``quarantine_path``."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"data directory {data_dir} does not exist")
    for name in schemas.REQUIRED_TABLES:
        if schemas.find_table_file(data_dir, name) is None:
            raise DataError(
                f"{data_dir} has no {name} table (expected {name}.parquet/.csv, see data_samples/README.md)"
            )
    q = Quarantine(quarantine_path)
    try:
        products = _validate_products(read_table(data_dir, "products"), q)
        stores = _validate_simple(read_table(data_dir, "stores"), schemas.STORES, q)
        inventory = _validate_simple(read_table(data_dir, "inventory"), schemas.INVENTORY, q)
        skus = set(products["sku"])
        if not inventory.empty:
            inventory = _split(
                inventory,
                pd.Series(np.where(inventory["sku"].isin(skus), "", "unknown sku"), index=inventory.index),
                "inventory",
                q,
            ).reset_index(drop=True)
            inventory["stock"] = (
                pd.to_numeric(inventory["stock"], errors="coerce").fillna(0).clip(lower=0).astype(np.int64)
            )
        customers = _validate_customers(read_table(data_dir, "customers"), q)
        unsubscribes = _validate_simple(read_table(data_dir, "unsubscribes"), schemas.UNSUBSCRIBES, q)
        store_ids = pa.array(stores["store_id"].astype(str).unique(), pa.string())
        events = _ingest_events(
            data_dir, pa.array(products["sku"].unique(), pa.string()), store_ids, q, batch_size
        )
        latest = events["timestamp"].max() if len(events) else None
        customers = _validate_loyalty(customers, q, latest)
        queries = read_table(data_dir, "queries")
        judgments = read_table(data_dir, "judgments")
    finally:
        q.close()
    inputs = [p for name in schemas.TABLES if (p := schemas.find_table_file(data_dir, name)) is not None]
    return IngestResult(
        products=products,
        stores=stores,
        inventory=inventory,
        customers=customers,
        unsubscribes=unsubscribes,
        events=events,
        queries=queries,
        judgments=judgments,
        input_files=inputs,
        quarantine_counts=q.counts,
    )


def _ingest_events(
    data_dir: Path, skus: pa.Array, store_ids: pa.Array, q: Quarantine, batch_size: int
) -> pd.DataFrame:
    path = schemas.find_table_file(data_dir, "events")
    if path is None:  # a catalog alone: the pipeline trains a search-only bundle
        return pd.DataFrame(columns=[c.name for c in schemas.EVENTS.columns])
    categories = _event_categories(skus)
    parts = []
    with tqdm(desc="ingest events", unit=" events", unit_scale=True) as bar:
        try:
            for batch in schemas.iter_event_batches(path, batch_size=batch_size):
                df = batch.to_pandas()
                for col in (c.name for c in schemas.EVENTS.columns):
                    if col not in df.columns:
                        df[col] = None
                parts.append(_as_categories(_validate_event_batch(df, skus, store_ids, q), categories))
                bar.update(len(df))
        except (EOFError, OSError) as exc:
            # A truncated export must not train silently on part of the history.
            raise DataError(f"{path} is truncated or corrupt ({exc}); re-export it") from exc
    if not parts:
        return pd.DataFrame(columns=[c.name for c in schemas.EVENTS.columns])
    events, replayed = _concat_sorted(parts)
    # Replays of an id accepted in an earlier batch (within a batch, the first one already won).
    q.add("events", events[replayed], "duplicate event_id")
    return events[~replayed].reset_index(drop=True) if replayed.any() else events


def _event_categories(skus: pa.Array) -> dict[str, pd.CategoricalDtype]:
    """Every value a validated event can hold in its low-cardinality columns: type and channel from
    the schema, sku from the catalog. Fixed for the run, so each batch is stored as categories (1-2
    bytes an event instead of 12-19 as Arrow strings, ~1 GB less at 20M events while the batches
    are concatenated) and the batches still concatenate into one categorical column."""
    return {
        "type": pd.CategoricalDtype(sorted(schemas.EVENT_TYPES)),
        "channel": pd.CategoricalDtype(sorted(schemas.CHANNELS)),
        "sku": pd.CategoricalDtype(sorted(skus.to_pylist())),
    }


def _as_categories(df: pd.DataFrame, categories: dict[str, pd.CategoricalDtype]) -> pd.DataFrame:
    """``df`` with those columns as categoricals (validation left only known values or missing)."""
    return df.assign(**{col: as_str(df[col]).astype(dtype) for col, dtype in categories.items()})


def _concat_sorted(parts: list[pd.DataFrame]) -> tuple[pd.DataFrame, np.ndarray]:
    """The batches as one frame in time order (stable: file order among equal timestamps), and which
    rows repeat the ``event_id`` of a row earlier in the file.

    Column by column, each part's column released once copied, so the peak is about one copy of the
    events rather than the three of ``concat`` then ``sort_values`` (gigabytes at 20M events), and
    no Python set of every id is ever built.
    """
    ts = pd.concat([p["timestamp"] for p in parts], ignore_index=True)
    order = np.argsort(ts.astype("int64").to_numpy(), kind="stable")
    del ts
    columns: dict[str, pd.Series] = {}
    replayed = np.zeros(len(order), dtype=bool)
    for col in list(parts[0].columns):
        merged = pd.concat([p.pop(col) for p in parts], ignore_index=True)
        if col == "event_id":
            replayed = merged.duplicated(keep="first").to_numpy()[order]
        if isinstance(merged.dtype, pd.CategoricalDtype):
            merged = (
                merged.cat.remove_unused_categories()
            )  # the values present, sorted, as astype("category")
        columns[col] = merged.take(order).reset_index(drop=True)
        del merged
        release_unused_memory()  # the parts' copies of this column: give them back before the next one
    return pd.DataFrame(columns), replayed
