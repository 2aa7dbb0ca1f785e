"""On-disk cache of line-of-sight results (the only expensive part of an envelope).

Entries are ``.npz`` files named by a SHA-256 key over everything that changes the result
(terrain content hash, analysis grid, site, antenna height, k, earth radius, range, kernel
version). Writes are atomic (temporary file + ``os.replace``); each entry stores a checksum
of its arrays, and an entry that fails to load or verify is deleted and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import platformdirs

from simulator.errors import CacheError

#: Bump when the kernel's output for the same inputs changes.
KERNEL_VERSION = 2

CACHE_DIR_ENV = "ADCOV_CACHE_DIR"


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


class EnvelopeCache:
    """A directory of cached arrays; ``enabled=False`` makes every lookup miss and skips writes."""

    def __init__(self, directory: str | Path | None = None, *, enabled: bool = True):
        self.enabled = enabled
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0
        self.recovered_corrupt = 0

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.npz"

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under ``key``, or None (missing, disabled, or corrupt: deleted)."""
        if not self.enabled:
            return None
        path = self._path(key)
        if not path.exists():
            self.misses += 1
            return None
        try:
            with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
            stored = str(arrays.pop("__checksum__"))
            if stored != _checksum(arrays):
                raise ValueError("checksum mismatch")
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            self.recovered_corrupt += 1
            self.misses += 1
            try:
                path.unlink()
            except OSError:
                pass
            return None
        self.hits += 1
        return arrays

    def put(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        """Store ``arrays`` under ``key`` atomically (a reader never sees a partial file)."""
        if not self.enabled:
            return
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    np.savez(handle, __checksum__=np.array(_checksum(arrays)), **arrays)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp_name, path)
            except BaseException:
                try:
                    os.unlink(tmp_name)
                except OSError:
                    pass
                raise
        except OSError as exc:
            raise CacheError(
                f"cannot write the envelope cache at {self.directory}: {exc.strerror or exc}; "
                f"set {CACHE_DIR_ENV} to a writable folder or pass --no-cache"
            ) from exc
