"""The same batch job on Ray: one task per customer partition, the prepared job broadcast once.

``ray.put`` places the job (engine with its catalog, models and co-purchase arrays, plus the
selected recipients and seeds) in the object store once; every task gets a reference, so numpy
arrays are shared zero-copy by the workers of a node instead of being shipped per task. Tasks
call the very ``score_partition`` the local runner calls and write their own part file; the
driver writes the checkpoint when a task's result arrives, so resume works the same way.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from training.batch.partition import BatchJob, partition_stats, score_partition, summarise
from training.batch.writer import PartWriter, write_part
from training.ray_cluster import cluster_cpus, ray_session


def _score_and_write(job: BatchJob, out_dir: str, partition: int) -> dict[str, Any]:
    table = score_partition(job, partition)
    write_part(Path(out_dir), partition, table)
    return partition_stats(table, job, partition)


def run_ray(
    job: BatchJob, writer: PartWriter, num_cpus: int | None = None, address: str | None = None
) -> dict[str, Any]:
    """Run unfinished partitions as Ray tasks on the cluster at ``address`` (None or ``local``: a
    local one of ``num_cpus`` CPUs, None: the machine's). The cluster's CPU count
    (``ray.cluster_resources()``) is how many partitions are in flight at once; every task writes
    its part into ``writer.out_dir``, so on a multi-node cluster that must be a shared mount."""
    with ray_session(address, num_cpus=num_cpus) as ray:
        cpus = cluster_cpus(ray)
        remote = ray.remote(num_cpus=1)(_score_and_write)
        job_ref = ray.put(job)
        done = writer.done()
        todo = deque(p for p in range(job.n_partitions) if p not in done)
        n_todo = len(todo)
        start = time.perf_counter()
        pending: dict[Any, int] = {}
        sizes = job.recipients["partition"].value_counts()
        with tqdm(
            total=len(job.recipients),
            initial=int(sum(sizes.get(p, 0) for p in done)),
            desc=f"{job.campaign} (ray, {cpus} CPUs)",
            unit=" customers",
            unit_scale=True,
        ) as bar:
            while todo or pending:
                while todo and len(pending) < cpus:  # one partition per cluster CPU in flight
                    p = todo.popleft()
                    pending[remote.remote(job_ref, str(writer.out_dir), p)] = p
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    p = pending.pop(ref)
                    stats = ray.get(ref)
                    writer.commit(p, stats)
                    bar.update(stats["recipients"])
        return summarise(
            job, writer, time.perf_counter() - start, n_todo, engine="ray", extra={"cluster_cpus": cpus}
        )
