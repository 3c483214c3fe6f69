"""Writing the import format: Parquet tables typed by the TableSpecs, events as gzipped JSON lines.

Output is byte-for-byte reproducible: Parquet from pyarrow is deterministic for equal input, and
the gzip header carries neither a file name nor a modification time.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from models.schemas import EVENTS, TableSpec

EVENT_FIELDS = tuple(c.name for c in EVENTS.columns)


def to_arrow(df: pd.DataFrame, spec: TableSpec) -> pa.Table:
    """``df`` as an Arrow table with exactly ``spec``'s columns and types; required must be non-null."""
    missing = [c.name for c in spec.columns if c.required and c.name not in df.columns]
    if missing:
        raise ValueError(f"{spec.name}: required columns missing: {missing}")
    frame = pd.DataFrame(
        {c.name: (df[c.name] if c.name in df.columns else None) for c in spec.columns}, index=df.index
    )
    table = pa.Table.from_pandas(frame, schema=spec.schema, preserve_index=False)
    for c in spec.columns:
        if c.required and table.column(c.name).null_count:
            raise ValueError(
                f"{spec.name}.{c.name} is required but has {table.column(c.name).null_count} nulls"
            )
    return table


def write_parquet(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")


class ParquetStream:
    """Appends row batches to one Parquet file, buffering so row groups stay reasonably large."""

    def __init__(
        self,
        path: Path,
        spec: TableSpec | None = None,
        schema: pa.Schema | None = None,
        rows_per_group: int = 200_000,
    ) -> None:
        self.path, self.spec, self.rows_per_group = path, spec, rows_per_group
        self.schema = spec.schema if spec is not None else schema
        self._buffer: list[pd.DataFrame] = []
        self._buffered = 0
        self._writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, df: pd.DataFrame) -> None:
        if len(df):
            self._buffer.append(df)
            self._buffered += len(df)
            if self._buffered >= self.rows_per_group:
                self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        df = pd.concat(self._buffer, ignore_index=True)
        self._buffer, self._buffered = [], 0
        if self.spec is not None:
            table = to_arrow(df, self.spec)
        else:
            table = pa.Table.from_pandas(df, schema=self.schema, preserve_index=False)
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
        self._writer.write_table(table)
        self.rows += len(df)

    def close(self) -> None:
        self._flush()
        if self._writer is None:  # no rows at all: still write a valid, empty file
            write_parquet(self.schema.empty_table(), self.path)
        else:
            self._writer.close()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventWriter:
    """Streams events to ``events.jsonl.gz``, one JSON object per line, absent fields omitted."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._raw = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0, compresslevel=9)
        self.count = 0
        self.by_type: dict[str, int] = {}

    def write(self, events: list[tuple[float, int, dict]]) -> list[str]:
        """Write events (already in the order wanted) and return the event ids given to them."""
        ids, lines = [], []
        for ts, _, fields in events:
            self.count += 1
            event_id = f"E{self.count:010d}"
            ids.append(event_id)
            obj = {"event_id": event_id, "type": fields["type"], "timestamp": iso(ts)}
            for name in EVENT_FIELDS[3:]:
                value = fields.get(name)
                if value is not None:
                    obj[name] = value
            self.by_type[fields["type"]] = self.by_type.get(fields["type"], 0) + 1
            lines.append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
        if lines:
            self._gz.write(("\n".join(lines) + "\n").encode("utf-8"))
        return ids

    def close(self) -> None:
        self._gz.close()
        self._raw.close()
