"""What every shop and POS connector shares: reading a tool's CSV export as text, rejecting rows
one by one with a reason, and writing import-format tables.

A connector never guesses silently: a row it cannot map goes to ``rejected.jsonl`` in the output
directory (file, line, reason, the row as exported, as ``training/ingest.py`` quarantines import
rows) and is counted in the report the command prints. Tables are written through the schemas of
``models/schemas.py`` and *merged* by key with a table of the same name already in the output
directory (a re-import replaces its own rows), so ``import-dataset shopify --out d`` then
``import-dataset pos-receipts --out d`` gives one directory with the web shop's and the stores' data.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from models import schemas
from models.errors import InputError, InputNotFound
from models.files import atomic_write, atomic_write_with
from models.pii import normalize_email, normalize_phone

REJECTED_FILE = "rejected.jsonl"

COLOR_OPTIONS = {"color", "colour", "colors", "colours", "cor", "couleur", "farbe", "colore"}
SIZE_OPTIONS = {"size", "sizes", "tamanho", "taille", "talla", "größe", "groesse", "taglia"}


def read_export(path: Path) -> pd.DataFrame:
    """A CSV export as text (every cell a string, empty cells ''), header names trimmed; the UTF-8
    byte-order mark spreadsheet tools write is dropped."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError) as exc:  # pandas' parse errors are ValueErrors
        raise InputError(f"cannot read {path}: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.apply(lambda col: col.str.strip())


def find_exports(source: Path, kinds: dict[str, tuple[str, ...]]) -> dict[str, list[Path]]:
    """The CSV files of ``source`` (a file or a folder) by kind, recognised by their header: the
    first kind whose columns are all in the header wins."""
    source = Path(source)
    if not source.exists():
        raise InputNotFound(f"{source} does not exist")
    files = (
        [source] if source.is_file() else sorted(p for p in source.iterdir() if p.suffix.lower() == ".csv")
    )
    found: dict[str, list[Path]] = {k: [] for k in kinds}
    for path in files:
        try:
            header = pd.read_csv(path, dtype=str, nrows=0, encoding="utf-8-sig").columns
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read {path}: {exc}") from exc
        header = {str(c).strip() for c in header}
        for kind, columns in kinds.items():
            if set(columns) <= header:
                found[kind].append(path)
                break
    return found


def require_columns(frame: pd.DataFrame, path: Path, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{path} is not {what}: missing column(s) {missing}")


class Rejects:
    """Rows a connector could not map, each with its file, line (the header is line 1) and reason."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.counts: Counter = Counter()

    def add(self, path: Path, line: int, reason: str, row: dict | pd.Series | None = None) -> None:
        record = {} if row is None else {str(k): str(v) for k, v in dict(row).items() if v not in ("", None)}
        self.rows.append({"file": Path(path).name, "line": int(line), "reason": reason, "row": record})
        self.counts[(Path(path).name, reason)] += 1

    def report(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (name, reason), n in sorted(self.counts.items()):
            out.setdefault(name, {})[reason] = int(n)
        return out

    def write(self, out_dir: Path) -> Path:
        """``rejected.jsonl`` (empty when nothing was rejected): it may hold customers' emails, so
        only its owner may read it."""
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.rows)
        return atomic_write(Path(out_dir) / REJECTED_FILE, text, mode=0o600)


_TAGS = re.compile(r"<[^>]*>")
_BLOCKS = re.compile(r"</?(p|div|br|li|ul|ol|h[1-6]|tr|table)\b[^>]*>", re.IGNORECASE)
_DROP = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_WS = re.compile(r"\s+")


def strip_html(text: object) -> str | None:
    """Readable text of an HTML description: scripts and styles dropped, tags removed (blocks become
    spaces), entities decoded, whitespace collapsed; ``None`` when nothing is left."""
    if not isinstance(text, str) or not text.strip():
        return None
    text = text.replace("\\n", " ")  # WooCommerce's exporter writes newlines as a literal \n
    text = _DROP.sub(" ", text)
    text = _BLOCKS.sub(" ", text)
    text = html.unescape(_TAGS.sub("", text))
    text = _WS.sub(" ", text).strip()
    return text or None


_MONEY_JUNK = re.compile(r"[^\d.,\-]")
_EURO_DECIMAL = re.compile(r"^\d{1,3}(\.\d{3})*,\d{1,2}$|^\d+,\d{1,2}$")


def money(text: object) -> float | None:
    """An amount as tools export it ('12.5', '$1,234.50', '-$3.00', '($3.00)', '1.234,50 €');
    ``None`` for an empty cell; NaN for text that is not an amount."""
    if not isinstance(text, str) or not text.strip():
        return None
    raw = text.strip()
    negative = raw.startswith("(") and raw.endswith(")")
    value = _MONEY_JUNK.sub("", raw)
    if value.startswith("-"):
        negative, value = True, value[1:]
    if _EURO_DECIMAL.match(value):
        value = value.replace(".", "").replace(",", ".")
    else:
        value = value.replace(",", "")
    try:
        amount = float(value)
    except ValueError:
        return float("nan")
    return -amount if negative else amount


def integer(text: object) -> int | None:
    """A whole number ('3', '-1', '2.0'); ``None`` when empty or not whole."""
    amount = money(text)
    if amount is None or np.isnan(amount) or amount != int(amount):
        return None
    return int(amount)


def time_zone(name: str | None) -> ZoneInfo | None:
    """The ``--timezone`` option: an IANA zone name ('America/Sao_Paulo'), ``None`` for UTC."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(
            f"--timezone {name!r} is not a time zone (an IANA name, e.g. Europe/Lisbon)"
        ) from exc


def timestamp(text: object, zone: ZoneInfo | None = None, iso: bool = False) -> pd.Timestamp:
    """A time as exported, in UTC: one with an offset is that instant, one without is local time
    in ``zone`` (UTC when ``None``); ``NaT`` when it is not a time (``iso``: only ISO 8601)."""
    if not isinstance(text, str) or not text.strip():
        return pd.NaT
    when = pd.to_datetime(text, errors="coerce", format="ISO8601" if iso else None)
    if pd.isna(when):
        return pd.NaT
    if when.tzinfo is None:
        when = when.tz_localize(zone or "UTC", ambiguous=True, nonexistent="shift_forward")
    return when.tz_convert("UTC")


def truthy(text: object) -> bool | None:
    if not isinstance(text, str) or not text.strip():
        return None
    value = text.strip().lower()
    if value in {"true", "yes", "y", "1", "subscribed"}:
        return True
    if value in {"false", "no", "n", "0", "-1", "unsubscribed", "not_subscribed"}:
        return False
    return None


def option_kind(name: object) -> str | None:
    """'color' or 'size' when a variant option's name says so (in a few languages), else ``None``."""
    key = str(name or "").strip().casefold()
    if key in COLOR_OPTIONS:
        return "color"
    if key in SIZE_OPTIONS:
        return "size"
    return None


def slug(text: str) -> str:
    """A stable id from a display name ('Main St. Store' -> 'main-st-store')."""
    value = re.sub(r"[^0-9a-z]+", "-", str(text).casefold()).strip("-")
    return value or hashlib.blake2b(str(text).encode(), digest_size=4).hexdigest()


def shop_base(domain: str | None) -> str | None:
    """'https://shop.example' from 'shop.example', 'https://shop.example/' or None."""
    if not domain:
        return None
    host = re.sub(r"^https?://", "", domain.strip()).strip("/")
    if not host or any(c.isspace() for c in host):
        raise InputError(f"--shop-domain {domain!r} is not a domain (e.g. shop.example.com)")
    return f"https://{host}"


def contact(email: object, phone: object) -> tuple[str | None, str | None]:
    """The email and phone as given when they normalise, else ``None`` each."""
    e = email if isinstance(email, str) and normalize_email(email) else None
    p = phone if isinstance(phone, str) and normalize_phone(phone) else None
    return (normalize_email(e) if e else None), p


def customers_from(rows: list[dict], prefix: str, source: str) -> pd.DataFrame:
    """One customer record per person seen at checkout, keyed by their normalised email (else
    phone); ``record_id`` is a pseudonym of that key, stable across re-imports. ``rows``: dicts
    with email, phone, email_consent (``None`` when the export does not say)."""
    people: dict[str, dict] = {}
    for row in rows:
        email, phone = row.get("email"), row.get("phone")
        key = f"email:{email}" if email else (f"phone:{normalize_phone(phone)}" if phone else None)
        if key is None:
            continue
        person = people.setdefault(
            key,
            {
                "record_id": f"{prefix}-{hashlib.blake2b(key.encode(), digest_size=8).hexdigest()}",
                "source": source,
                "email": email,
                "phone": None,
                "email_consent": False,
            },
        )
        person["phone"] = person["phone"] or phone
        if row.get("email_consent") is not None:
            person["email_consent"] = bool(row["email_consent"])  # the latest statement wins
    columns = ["record_id", "source", "email", "phone", "email_consent"]
    return pd.DataFrame(list(people.values()), columns=columns)


def existing_skus(out_dir: Path) -> set[str] | None:
    """The skus of a products table already in ``out_dir`` (``None`` when there is none)."""
    path = schemas.find_table_file(Path(out_dir), "products")
    if path is None:
        return None
    frame = (
        pd.read_parquet(path, columns=["sku"]) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
    )
    return set(frame["sku"].astype(str))


def write_tables(out_dir: Path, tables: dict[str, pd.DataFrame], keep_existing: tuple[str, ...] = ()) -> None:
    """Write each table as ``<name>.parquet`` typed by its schema, merged by key with the one already
    in ``out_dir``: new rows replace old rows of the same key, except in the tables named in
    ``keep_existing`` (e.g. stores a POS import only knows by id)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        spec = schemas.TABLES[name]
        path = out_dir / f"{name}.parquet"
        if path.exists():
            old = pd.read_parquet(path)
            frame = pd.concat([p for p in (old, frame) if len(p)], ignore_index=True)
            keep = "first" if name in keep_existing else "last"
            frame = frame.drop_duplicates(list(spec.key), keep=keep).reset_index(drop=True)
        table = _typed(frame, spec)
        atomic_write_with(path, lambda tmp, t=table: pq.write_table(t, tmp))


def _typed(frame: pd.DataFrame, spec: schemas.TableSpec) -> pa.Table:
    arrays, fields = [], []
    for column in spec.columns:
        if column.name not in frame.columns:
            continue
        values = frame[column.name]
        if column.type == schemas.TS:
            values = pd.to_datetime(values, utc=True)
            array = pa.array(values, type=column.type, from_pandas=True)
        elif column.type == schemas.I64:
            array = pa.array(pd.array(values, dtype="Int64"), type=column.type, from_pandas=True)
        elif column.type == schemas.F64:
            array = pa.array(pd.to_numeric(values).astype(float), type=column.type, from_pandas=True)
        elif column.type == schemas.BOOL:
            array = pa.array(values.astype("boolean"), type=column.type, from_pandas=True)
        else:
            array = pa.array(
                [None if v is None or v is pd.NA or v != v else str(v) for v in values], pa.string()
            )
        arrays.append(array)
        fields.append(pa.field(column.name, column.type, nullable=not column.required))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
