"""Chunked Parquet output with checkpoints, so a killed nightly job resumes where it stopped.

The output is a directory of ``part-NNNNN.parquet`` files, one per customer partition. A part is
written atomically (``models.files``: a temporary name, fsynced, renamed into place), then its
checkpoint the same way; on resume a partition counts as done only when both exist, so a kill at
any point leaves no half-written part and no customer twice. ``_job.json`` pins the job's inputs:
resuming with different inputs is refused instead of mixing two runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from models.errors import OmnirankError
from models.files import TMP_PREFIX, atomic_write, atomic_write_with

SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.string(), nullable=False),
        pa.field("email_hash", pa.string(), nullable=False),
        pa.field("campaign", pa.string(), nullable=False),
        pa.field("rank", pa.int32(), nullable=False),
        pa.field("sku", pa.string(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)
JOB_FILE = "_job.json"
SUMMARY_FILE = "_SUCCESS.json"
CHECKPOINTS = "_checkpoints"


class ResumeError(OmnirankError, RuntimeError):
    """The output directory holds a different job's parts."""


def part_name(partition: int) -> str:
    return f"part-{partition:05d}.parquet"


class PartWriter:
    """Writes one job's partitions into ``out_dir`` and remembers which are finished."""

    def __init__(self, out_dir: Path, job: dict[str, Any], overwrite: bool = False) -> None:
        self.out_dir = Path(out_dir)
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise ResumeError(f"--out {self.out_dir} is a file; batch output is a directory of Parquet parts")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / CHECKPOINTS).mkdir(exist_ok=True)
        job_path = self.out_dir / JOB_FILE
        if job_path.exists() and not overwrite:
            previous = json.loads(job_path.read_text())
            if previous != job:
                raise ResumeError(
                    f"{self.out_dir} holds the output of another job ({previous.get('fingerprint')}, this one is "
                    f"{job.get('fingerprint')}); use a new --out or pass --overwrite"
                )
        elif overwrite:
            self._clear()
        atomic_write(job_path, json.dumps(job, indent=2, sort_keys=True))
        for stale in [
            *self.out_dir.glob(f"{TMP_PREFIX}*"),
            *(self.out_dir / CHECKPOINTS).glob(f"{TMP_PREFIX}*"),
        ]:
            stale.unlink()

    def _clear(self) -> None:
        # _*.csv: the audience files of --format (training/batch/export.py) hold the old job's picks
        for pattern in ("part-*.parquet", f"{CHECKPOINTS}/*.json", SUMMARY_FILE, JOB_FILE, "_*.csv"):
            for path in self.out_dir.glob(pattern):
                path.unlink()

    def _checkpoint(self, partition: int) -> Path:
        return self.out_dir / CHECKPOINTS / f"{partition:05d}.json"

    def done(self) -> dict[int, dict[str, Any]]:
        """Finished partitions and their stats (a part without its checkpoint is redone)."""
        out = {}
        for path in sorted((self.out_dir / CHECKPOINTS).glob("*.json")):
            partition = int(path.stem)
            if (self.out_dir / part_name(partition)).exists():
                out[partition] = json.loads(path.read_text())
        return out

    def write_part(self, partition: int, table: pa.Table) -> Path:
        """Atomically place one partition's rows (may run on a worker; no checkpoint yet)."""
        return write_part(self.out_dir, partition, table)

    def commit(self, partition: int, stats: dict[str, Any]) -> None:
        atomic_write(self._checkpoint(partition), json.dumps(stats, sort_keys=True))

    def finish(self, summary: dict[str, Any]) -> Path:
        return atomic_write(
            self.out_dir / SUMMARY_FILE, json.dumps(summary, indent=2, sort_keys=True, default=str)
        )


def write_part(out_dir: Path, partition: int, table: pa.Table) -> Path:
    table = table.cast(SCHEMA)
    return atomic_write_with(
        Path(out_dir) / part_name(partition),
        lambda tmp: pq.write_table(table, tmp, compression="zstd", row_group_size=200_000),
    )
