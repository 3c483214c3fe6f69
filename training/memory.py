"""Give memory that pandas, numpy and Arrow have freed back to the operating system.

Why: pandas/numpy buffers come from glibc's malloc and Arrow's from its own pool (mimalloc); each
keeps freed pages for its own reuse and neither reuses the other's. At 4M events the process held
1.5 GB after ingest for a 0.6 GB frame; without releasing, every later stage's peak stacked on that
garbage (~3 GB at 20M events). Training calls this between stages and after its big temporaries.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc

import pyarrow as pa


def release_unused_memory() -> None:
    """Collect garbage, then return free pages of Arrow's pool and of the C heap."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """glibc, whose ``malloc_trim`` returns freed heap pages; ``None`` elsewhere (macOS, musl)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018 - AttributeError where it is not glibc
    except (OSError, AttributeError):
        return None
    return libc
