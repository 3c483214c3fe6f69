"""Catalog embedding as Ray tasks: the same vectors as one process, from every CPU of a cluster.

The encoder directory is shipped once: its two files the encoder reads (``model.onnx``,
``tokenizer.json``) go into the object store with one ``ray.put``, and one actor per worker writes
them to its node's temporary directory and holds one ``OnnxEncoder`` (one ONNX thread each, so
``workers`` actors fill ``workers`` CPUs). The driver plans the ONNX batches exactly as
``OnnxEncoder.encode`` would (``length_sorted_batches``: texts sorted by length, cut every
``batch_size``), hands groups of them to the actors, and puts each vector back at its product's row,
so the result is in catalog order and equal, bit for bit, to the single-process path (a text's
vector depends on its batch's padded length, which is why the batches themselves are kept).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from models.encoder import EMBEDDING_DIM, OnnxEncoder, length_sorted_batches
from training.ray_cluster import cluster_cpus, ray_session

ENCODER_FILES = ("model.onnx", "tokenizer.json")
GROUPS_PER_WORKER = 4
"""Batches are handed out in about this many groups per worker, so a slow node does not hold the end."""


class EmbedWorker:
    """One worker's encoder, built from the shipped files (a Ray actor; plain class for tests)."""

    def __init__(self, files: dict[str, bytes], max_length: int) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="omnirank-encoder-")
        for name, data in files.items():
            (Path(self._dir.name) / name).write_bytes(data)
        self.encoder = OnnxEncoder(self._dir.name, max_length=max_length, threads=1)

    def encode(self, batches: list[list[str]]) -> list[np.ndarray]:
        return [self.encoder.encode_batches(texts) for texts in batches]


def embed_texts_ray(
    encoder_dir: Path,
    texts: list[str],
    batch_size: int,
    max_length: int,
    address: str | None = None,
    workers: int | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Vectors of ``texts`` (n, dim) in their order, embedded by Ray actors, and how it ran.

    ``address``: a Ray cluster (None or ``local``: a local one of ``workers`` CPUs). ``workers``:
    actors to start; None or < 2 with an address: one per CPU of the cluster."""
    texts = [t if t else " " for t in texts]
    local_cpus = workers if (not address or address == "local") and workers and workers > 1 else None
    with ray_session(address, num_cpus=local_cpus) as ray:
        cpus = cluster_cpus(ray)
        n_workers = workers if workers and workers > 1 else cpus
        n_workers = max(1, min(n_workers, cpus))
        start = time.perf_counter()
        files = {name: (Path(encoder_dir) / name).read_bytes() for name in ENCODER_FILES}
        files_ref = ray.put(files)
        actor = ray.remote(num_cpus=1)(EmbedWorker)
        actors = [actor.remote(files_ref, max_length) for _ in range(n_workers)]
        batches = length_sorted_batches(texts, batch_size)
        per_group = max(1, -(-len(batches) // (n_workers * GROUPS_PER_WORKER)))
        groups = [batches[i : i + per_group] for i in range(0, len(batches), per_group)]
        pending = {
            actors[g % n_workers].encode.remote([[texts[i] for i in idx] for idx in group]): group
            for g, group in enumerate(groups)
        }
        out: np.ndarray | None = None
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                group = pending.pop(ref)
                for idx, vectors in zip(group, ray.get(ref), strict=True):
                    if out is None:
                        out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
                    out[idx] = vectors
        for a in actors:
            ray.kill(a)
        seconds = time.perf_counter() - start
    if out is None:
        out = np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    return out, {
        "engine": "ray",
        "address": address or "local",
        "cluster_cpus": cpus,
        "workers": n_workers,
        "tasks": len(groups),
        "seconds": round(seconds, 2),
    }
