"""On-disk cache of line-of-sight results (the only expensive part of an envelope).

Entries are ``.npz`` files named by a SHA-256 key over everything that changes the result
(terrain content hash, analysis grid, site, antenna height, k, earth radius, range, kernel
version). Writes are atomic (temporary file + ``os.replace``); each entry stores a checksum
of its arrays, and an entry that fails to load or verify is deleted and recomputed.

The cache is capped (:data:`DEFAULT_MAX_BYTES`, or ``$ADCOV_CACHE_MAX_MB``, or
``max_bytes=``): after each write the least recently used entries (a hit refreshes an
entry's modification time) are removed until the total fits. ``adcov cache info`` and
``adcov cache clear`` show and empty it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import platformdirs

from simulator.errors import CacheError
from simulator.fileio import AtomicFiles

#: Bump when the kernel's output for the same inputs changes.
KERNEL_VERSION = 2

CACHE_DIR_ENV = "ADCOV_CACHE_DIR"
CACHE_MAX_ENV = "ADCOV_CACHE_MAX_MB"
#: Default size cap of the envelope cache. [bytes]
DEFAULT_MAX_BYTES = 2 * 2**30


def default_max_bytes() -> int:
    """``$ADCOV_CACHE_MAX_MB`` (MiB) if set and valid, else :data:`DEFAULT_MAX_BYTES`."""
    text = os.environ.get(CACHE_MAX_ENV)
    if text:
        try:
            value = float(text)
        except ValueError:
            raise CacheError(f"{CACHE_MAX_ENV}={text!r} is not a number of MiB (e.g. 2048)") from None
        if not (value > 0 and value < 2**40):
            raise CacheError(f"{CACHE_MAX_ENV}={text!r}: expected a size in MiB > 0")
        return int(value * 2**20)
    return DEFAULT_MAX_BYTES


def default_cache_dir() -> Path:
    """``$ADCOV_CACHE_DIR`` if set, else the platform's user cache dir for adcov."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env)
    return Path(platformdirs.user_cache_dir("adcov")) / "envelopes"


def cache_key(**parts) -> str:
    """Stable SHA-256 hex key of keyword parts (JSON, sorted keys, floats repr-exact)."""
    payload = json.dumps({"kernel_version": KERNEL_VERSION, **parts}, sort_keys=True, default=repr)
    return hashlib.sha256(payload.encode()).hexdigest()


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(name.encode())
        digest.update(str(a.dtype).encode())
        digest.update(str(a.shape).encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def _read_entry(path: Path) -> dict[str, np.ndarray]:
    """The arrays of one entry, read without trusting it: a regular file opened without
    following a symlink or blocking (a FIFO), an uncompressed zip (``np.savez``) whose every
    member is a ``.npy`` whose header accounts for exactly its stored bytes, so nothing larger
    than the file is ever allocated. ValueError/OSError otherwise."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    with open(fd, "rb") as handle:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file")
        if handle.read(4) != b"PK\x03\x04":
            raise ValueError("not an npz archive")
        handle.seek(0)
        with zipfile.ZipFile(handle) as archive:
            members = archive.infolist()
            if sum(m.file_size for m in members) > st.st_size:
                raise ValueError("members larger than the archive")
            arrays = {}
            for member in members:
                if member.compress_type != zipfile.ZIP_STORED or not member.filename.endswith(".npy"):
                    raise ValueError(f"unexpected member {member.filename!r}")
                with archive.open(member) as raw:
                    version = np.lib.format.read_magic(raw)
                    if version == (1, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_1_0(raw)
                    elif version == (2, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_2_0(raw)
                    else:
                        raise ValueError(f"npy format {version} is not what adcov writes")
                    if dtype.hasobject:
                        raise ValueError("object arrays are refused")
                    nbytes = math.prod(shape) * dtype.itemsize
                    if raw.tell() + nbytes != member.file_size:
                        raise ValueError(f"member {member.filename!r} declares more data than it holds")
                    flat = np.empty(math.prod(shape), dtype=dtype)
                    if raw.readinto(flat.view(np.uint8)) != nbytes:
                        raise ValueError(f"member {member.filename!r} is truncated")
                arrays[member.filename[:-4]] = flat.reshape(shape, order="F" if fortran else "C")
    return arrays


class EnvelopeCache:
    """A directory of cached arrays; ``enabled=False`` makes every lookup miss and skips writes."""

    def __init__(self, directory: str | Path | None = None, *, enabled: bool = True, max_bytes: int | None = None):
        self.enabled = enabled
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.max_bytes = int(max_bytes) if max_bytes is not None else default_max_bytes()
        self.hits = 0
        self.misses = 0
        self.recovered_corrupt = 0
        self.evicted = 0

    def entries(self) -> list[tuple[Path, int, int]]:
        """Every entry as ``(path, size in bytes, last use in ns)``, least recently used first."""
        found = []
        try:
            folders = [e for e in os.scandir(self.directory) if e.is_dir(follow_symlinks=False) and len(e.name) == 2]
        except OSError:
            return []
        for folder in folders:
            try:
                for entry in os.scandir(folder.path):
                    if entry.name.endswith(".npz") and not entry.name.startswith(".") and entry.is_file(follow_symlinks=False):
                        st = entry.stat(follow_symlinks=False)
                        found.append((Path(entry.path), st.st_size, st.st_mtime_ns))
            except OSError:
                continue
        return sorted(found, key=lambda e: e[2])

    def total_bytes(self) -> int:
        return sum(size for _, size, _ in self.entries())

    def evict(self, keep: Path | None = None) -> int:
        """Remove least recently used entries until the cache fits ``max_bytes`` (never
        ``keep``, the entry just written); returns how many were removed."""
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        removed = 0
        for path, size, _ in entries:
            if total <= self.max_bytes:
                break
            if keep is not None and path == keep:
                continue
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                continue
            total -= size
            removed += 1
        self.evicted += removed
        return removed

    def clear(self) -> tuple[int, int]:
        """Remove every entry (and the DEM digests kept beside them): (entries, bytes)."""
        entries = self.entries()
        n = size = 0
        for path, nbytes, _ in entries:
            try:
                path.unlink()
                n += 1
                size += nbytes
            except OSError:
                continue
        digests = self.directory / "dem-digests"
        if digests.is_dir():
            import shutil

            shutil.rmtree(digests, ignore_errors=True)
        return n, size

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.npz"

    def has(self, key: str) -> bool:
        """Whether an entry is stored under ``key`` (not checked: :meth:`get` checks it)."""
        return self.enabled and os.path.lexists(self._path(key))

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under ``key``, or None (missing, disabled, or corrupt: deleted)."""
        if not self.enabled:
            return None
        path = self._path(key)
        if not os.path.lexists(path):
            self.misses += 1
            return None
        try:
            arrays = _read_entry(path)
            stored = str(arrays.pop("__checksum__"))
            if stored != _checksum(arrays):
                raise ValueError("checksum mismatch")
            # the key is inside the checksummed payload: an entry moved or copied under
            # another key (a valid entry of another unit) does not answer this question
            if str(arrays.pop("__key__", "")) != key:
                raise ValueError("entry stored under another key")
        except (OSError, ValueError, KeyError, EOFError, TypeError, AttributeError, zipfile.BadZipFile,
                zipfile.LargeZipFile, MemoryError):
            # corrupt, forged (a plain .npy, a zip declaring gigabytes), not a regular file:
            # discarded and recomputed
            self.recovered_corrupt += 1
            self.misses += 1
            try:
                path.unlink()
            except OSError:
                pass
            return None
        self.hits += 1
        try:
            os.utime(path)  # last use, for least-recently-used eviction
        except OSError:
            pass
        return arrays

    def put(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        """Store ``arrays`` under ``key`` atomically (a reader never sees a partial file)."""
        if not self.enabled:
            return
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with AtomicFiles() as files:
                with open(files.temp_for(path), "xb") as handle:
                    payload = {**arrays, "__key__": np.array(key)}
                    # no fsync: an entry a crash leaves truncated fails its checksum and is
                    # recomputed; the rename alone keeps readers from partial files
                    np.savez(handle, __checksum__=np.array(_checksum(payload)), **payload)
                files.commit()
            self.evict(keep=path)
        except OSError as exc:
            raise CacheError(
                f"cannot write the envelope cache at {self.directory}: {exc.strerror or exc}; "
                f"set {CACHE_DIR_ENV} to a writable folder or pass --no-cache"
            ) from exc
