"""Report outputs written atomically: single files, and whole report folders.

A report folder is written into a temporary sibling folder named ``.adcov-tmp-<name>.<pid>.*``
and renamed into place once every file is complete; an existing report at ``out_dir`` is
replaced only then (atomically with ``renameat2(RENAME_EXCHANGE)`` on Linux, else with two
renames). A crash, Ctrl-C or ``kill -9`` therefore leaves either no report, the previous
complete one or the new complete one -- plus, at worst, a ``.adcov-tmp-*`` folder, which the
next report written next to it removes once its process is gone. Single files written by the
public functions go to a ``.adcov-tmp-*`` name in the same folder and are ``os.replace``-d
(:func:`simulator.fileio.write_bytes_atomically`). Durability across power loss (fsync) is not
attempted.

A report folder may be replaced only when it is empty or holds exactly the files of an
earlier adcov report (:func:`check_report_folder`); ``manifest.json``, written last, lists
every file with its size and sha256.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as _dt
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path

import simulator.export as _export  # _exchange is looked up there: tests replace it
from simulator import __version__
from simulator.errors import AdcovError, OutputError
from simulator.export.tables import json_default
from simulator.fileio import (
    TMP_PREFIX,
    register_staging,
    shown_path,
    unregister_staging,
    write_bytes_atomically,
)

#: Written last into every report folder; lists every other file with its size and sha256.
MANIFEST_NAME = "manifest.json"


def _atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a ``.adcov-tmp-*`` file in the same folder.

    A failed write (a full disk included) raises AdcovError with the OS message; ``path``
    keeps its previous content and no temporary file is left.
    """
    path = Path(path)
    try:
        return write_bytes_atomically(path, data)
    except OSError as exc:
        raise OutputError(f"cannot write {shown_path(path)}: {exc.strerror or exc}") from exc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _remove_stale_temps(parent: Path, name: str) -> None:
    """Remove ``.adcov-tmp-<name>.<pid>.*`` folders left by processes that no longer run."""
    prefix = f"{TMP_PREFIX}{name}."
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            if not entry.name.startswith(prefix) or not entry.is_dir() or entry.is_symlink():
                continue
            pid_text = entry.name[len(prefix):].split(".", 1)[0]
            if pid_text.isdigit() and int(pid_text) != os.getpid() and not _pid_alive(int(pid_text)):
                shutil.rmtree(entry, ignore_errors=True)


def _is_report_dir(path: Path) -> bool:
    """An empty folder, or one holding an adcov report (its manifest says so)."""
    try:
        entries = list(path.iterdir())
    except OSError:
        return False
    if not entries:
        return True
    try:
        manifest = json.loads((path / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("generator") == "adcov"


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


#: How many of the files a user added to a report folder the refusal names.
_FOREIGN_SHOWN = 5


def _manifest_paths(path: Path) -> set[str]:
    """The files a report folder's manifest lists (relative, ``/``-separated); empty if none."""
    try:
        manifest = json.loads((path / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    entries = manifest.get("files") if isinstance(manifest, dict) else None
    return {e["path"] for e in entries or () if isinstance(e, dict) and isinstance(e.get("path"), str)}


#: Files that file managers leave in any folder they show (Finder, Windows Explorer, KDE's
#: Dolphin): not the user's work, so they do not keep a report from being replaced.
OS_METADATA_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", ".directory"})


def _foreign_entries(path: Path) -> list[str]:
    """Files and folders in the report folder ``path`` that its manifest does not list (the
    manifest itself excepted), sorted; a folder holding no listed file is named once, as ``dir/``."""
    listed = _manifest_paths(path)
    listed_dirs = {"/".join(p.split("/")[:i]) for p in listed for i in range(1, p.count("/") + 1)}
    foreign: list[str] = []

    def walk(folder: Path, prefix: str) -> None:
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                relative = prefix + entry.name
                if relative == MANIFEST_NAME:
                    continue
                if entry.name in OS_METADATA_FILES and entry.is_file(follow_symlinks=False):
                    continue  # a file manager's own bookkeeping, rewritten whenever it looks
                if entry.is_dir(follow_symlinks=False):
                    if relative in listed_dirs:
                        walk(Path(entry.path), relative + "/")
                    else:
                        foreign.append(relative + "/")
                elif relative not in listed:
                    foreign.append(relative)

    walk(path, "")
    return foreign


def check_report_folder(out_dir) -> Path:
    """The resolved report folder, or AdcovError if writing a report there would lose anything.

    A report goes into a new or empty folder, or replaces an earlier adcov report whose folder
    holds exactly the files of its manifest; any other file or folder in it (the user's notes,
    an annotated map) makes this refuse, naming up to five of them. Symlinks are followed.
    """
    path = Path(os.path.realpath(out_dir))
    if os.path.lexists(path) and not path.is_dir():
        raise OutputError(f"report folder {out_dir}: exists and is not a folder")
    if not path.is_dir():
        return path
    if not _is_report_dir(path):
        raise OutputError(
            f"report folder {out_dir}: the folder exists and is not an adcov report (no {MANIFEST_NAME} from adcov); "
            "choose a new or empty folder -- adcov replaces only its own reports"
        )
    try:
        foreign = _foreign_entries(path)
    except OSError as exc:
        raise OutputError(f"report folder {out_dir}: cannot list its files ({exc.strerror or exc}); choose another folder") from exc
    if foreign:
        shown = ", ".join(foreign[:_FOREIGN_SHOWN])
        more = f" and {len(foreign) - _FOREIGN_SHOWN} more" if len(foreign) > _FOREIGN_SHOWN else ""
        raise OutputError(
            f"report folder {out_dir}: holds {len(foreign)} file(s) or folder(s) that adcov did not write (not in its "
            f"{MANIFEST_NAME}): {shown}{more}; replacing the report would delete them -- move them out of the folder, "
            "or choose another folder (or delete this one) for the report"
        )
    return path


class _StagedReport:
    """A report folder built in a temporary sibling and renamed into place by :meth:`commit`.

    Any failed write (a full disk included) removes the temporary folder and raises
    AdcovError; the previous report, if any, is then unchanged.
    """

    def __init__(self, out_dir, kind: str):
        self.shown = out_dir
        self.out_dir = check_report_folder(out_dir)  # a symlinked report folder is replaced where it points
        self.kind = kind
        parent = self.out_dir.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"report folder {out_dir}: cannot create the parent folder: {exc}") from exc
        _remove_stale_temps(parent, self.out_dir.name)
        while True:
            tmp = parent / f"{TMP_PREFIX}{self.out_dir.name}.{os.getpid()}.{secrets.token_hex(4)}"
            try:
                os.mkdir(tmp)
                break
            except FileExistsError:
                continue
            except OSError as exc:
                raise OutputError(f"report folder {out_dir}: cannot write next to it: {exc}") from exc
        self.tmp = tmp
        register_staging(self.tmp, self.out_dir)
        self.files: list[str] = []

    def _failed(self, relative: str, exc: OSError) -> AdcovError:
        """Abort and say what could not be written (raise the result ``from exc``)."""
        self.abort()
        return AdcovError(f"report folder {self.shown}: cannot write {relative}: {exc.strerror or exc}; "
                          "nothing was replaced (an earlier report there is unchanged)")

    def path(self, relative: str) -> Path:
        """Where to write ``relative`` (recorded in the manifest)."""
        target = self.tmp / relative
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._failed(relative, exc) from exc
        if relative not in self.files:
            self.files.append(relative)
        return target

    def write_bytes(self, relative: str, data: bytes) -> None:
        target = self.path(relative)
        try:
            with open(target, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            raise self._failed(relative, exc) from exc

    def write_text(self, relative: str, text: str) -> None:
        self.write_bytes(relative, text.encode("utf-8"))

    def write_json(self, relative: str, data) -> None:
        self.write_text(relative, json.dumps(data, indent=1, ensure_ascii=False, default=json_default) + "\n")

    def abort(self) -> None:
        unregister_staging(self.tmp)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def commit(self, extra: Mapping | None = None) -> list[Path]:
        """Write the manifest and move the folder into place; returns the final file paths.

        Refuses (AdcovError, nothing replaced) when files the user added to the old report
        while this one was being written would be lost.
        """
        entries = []
        try:
            for relative in self.files:
                data = (self.tmp / relative).read_bytes()
                entries.append({"path": relative, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        except OSError as exc:
            raise self._failed(relative, exc) from exc
        manifest = {
            "generator": "adcov",
            "adcov_version": __version__,
            "report": self.kind,
            "written_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            **(dict(extra) if extra else {}),
            "files": entries,
        }
        self.write_text(MANIFEST_NAME, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
        self.files.remove(MANIFEST_NAME)
        try:
            check_report_folder(self.shown)  # again: the user may have saved a file into the old report meanwhile
        except AdcovError:
            self.abort()
            raise
        try:
            self._swap_into_place()
        except OSError as exc:
            self.abort()
            raise OutputError(f"report folder {self.shown}: cannot put the new report in place: {exc.strerror or exc}; "
                             "an earlier report there is unchanged") from exc
        unregister_staging(self.tmp)
        return [self.out_dir / f for f in self.files] + [self.out_dir / MANIFEST_NAME]

    def _swap_into_place(self) -> None:
        """Replace ``out_dir`` with the staged folder (atomically where the OS can)."""
        if not self.out_dir.exists():
            os.rename(self.tmp, self.out_dir)
        elif _export._exchange(self.tmp, self.out_dir):
            shutil.rmtree(self.tmp, ignore_errors=True)  # now holds the previous report
        else:
            old = self.out_dir.parent / f"{TMP_PREFIX}{self.out_dir.name}.{os.getpid()}.old-{secrets.token_hex(4)}"
            os.rename(self.out_dir, old)
            try:
                os.rename(self.tmp, self.out_dir)
            except OSError:
                os.rename(old, self.out_dir)  # put the previous report back
                raise
            shutil.rmtree(old, ignore_errors=True)
