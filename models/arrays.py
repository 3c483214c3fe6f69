"""Read a bundle's arrays memory-mapped, so N service workers share one copy through the page cache.

``np.load(path.npz, mmap_mode="r")`` ignores ``mmap_mode``: an ``.npz`` is a zip. But ``np.savez``
(and ``scipy.sparse.save_npz(..., compressed=False)``) store each member uncompressed, one ``.npy``
after its zip header, so the member's data is a contiguous range of the file: :func:`load_npz` maps
that range read-only (``np.memmap``). A compressed member, an object array or an odd layout is read
into memory as before, so every existing bundle still loads. The arrays returned are read-only.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # a zip local file header (30 bytes)


def _member_offset(fh, info: zipfile.ZipInfo) -> int:
    """Byte offset of a stored member's data in the zip file."""
    fh.seek(info.header_offset)
    header = _LOCAL_HEADER.unpack(fh.read(_LOCAL_HEADER.size))
    if header[0] != b"PK\x03\x04":
        raise ValueError("bad zip local header")
    name_len, extra_len = header[-2], header[-1]
    return info.header_offset + _LOCAL_HEADER.size + name_len + extra_len


def load_npz(path: str | Path, mmap: bool = True) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` by name (without ``.npy``); uncompressed members memory-mapped."""
    path = Path(path)
    out: dict[str, np.ndarray] = {}
    fallback: list[str] = []
    with zipfile.ZipFile(path) as zf, open(path, "rb") as fh:
        for info in zf.infolist():
            name = info.filename.removesuffix(".npy")
            if not mmap or info.compress_type != zipfile.ZIP_STORED or info.file_size < 4096:
                fallback.append(name)
                continue
            start = _member_offset(fh, info)
            fh.seek(start)
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                fallback.append(name)
                continue
            if dtype.hasobject or int(np.prod(shape)) == 0:
                fallback.append(name)
                continue
            out[name] = np.memmap(
                path, dtype=dtype, mode="r", offset=fh.tell(), shape=shape, order="F" if fortran else "C"
            )
    if fallback:
        with np.load(path, allow_pickle=False) as z:
            for name in fallback:
                out[name] = z[name]
    return out


def load_sparse_npz(path: str | Path, mmap: bool = True) -> sp.csr_matrix:
    """``scipy.sparse.load_npz(path).tocsr()``, the CSR/CSC arrays memory-mapped where stored."""
    arrays = load_npz(path, mmap=mmap)
    fmt = arrays.get("format")
    fmt = fmt.item() if fmt is not None else b"csr"
    fmt = fmt.decode("ascii") if isinstance(fmt, bytes) else str(fmt)
    if fmt not in ("csr", "csc"):
        return sp.load_npz(path).tocsr()
    shape = tuple(int(x) for x in arrays["shape"])
    cls = sp.csr_matrix if fmt == "csr" else sp.csc_matrix
    matrix = cls((arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape, copy=False)
    return matrix if fmt == "csr" else matrix.tocsr()
