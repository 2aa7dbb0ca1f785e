"""Small file-writing rules shared by every writer of adcov.

Outputs named on the command line are checked by :func:`check_output_file` (one file) and
:func:`check_output_folder` (a report folder) before anything is computed; files are written
through ``.adcov-tmp-*`` siblings renamed into place, one file (:func:`write_bytes_atomically`)
or several together, all or none (:class:`AtomicFiles`).

Temporary siblings are created with ``open`` (not ``tempfile.mkstemp``, which makes them 0600),
so an output gets the permissions any other program would give it: 0666 less the user's umask.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import threading
from pathlib import Path

from simulator.errors import OutputError

_lock = threading.Lock()

# ============================================================================ output paths

#: Prefix of every temporary file or folder adcov writes next to an output; nothing else uses it.
TMP_PREFIX = ".adcov-tmp-"
#: Folders whose entries are devices or views of processes, never files adcov should replace
#: (``/dev/shm`` excepted: a memory file system for ordinary files).
_DEVICE_ROOTS = (Path("/dev"), Path("/proc"), Path("/sys"))
_ORDINARY_UNDER_DEV = Path("/dev/shm")


def temp_path_for(path, tag: str = "") -> Path:
    """A fresh ``.adcov-tmp-<stem>.<pid>.<tag><random><suffix>`` sibling of ``path``: same folder,
    so a rename is atomic; same suffix, so a library that picks a format by it picks the same."""
    path = Path(path)
    return path.with_name(f"{TMP_PREFIX}{path.stem}.{os.getpid()}.{tag}{secrets.token_hex(4)}{path.suffix}")


class AtomicFiles:
    """Files written under temporary siblings and renamed into place together: all of them, or none.

    The one atomic-write implementation of adcov (:func:`write_bytes_atomically` is its
    one-file case). Nothing is visible under a final name before :meth:`commit`; an error
    while writing, :meth:`abort`, or leaving the ``with`` block without a commit removes every
    temporary file and every folder :meth:`make_dir` made (when empty). Failed steps raise
    their ``OSError`` (a full disk included); callers word it for their users.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with AtomicFiles() as files:
    ...     _ = files.write_bytes(folder / "a.txt", b"A")
    ...     _ = files.write_bytes(folder / "b.txt", b"B")
    ...     sorted(p.name for p in files.commit())
    ['a.txt', 'b.txt']
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []  # (temporary, final)
        self._made: list[Path] = []

    def __enter__(self) -> AtomicFiles:
        return self

    def __exit__(self, *exc_info) -> None:
        self.abort()  # after a commit there is nothing left to remove

    def temp_for(self, final) -> Path:
        """A temporary sibling of ``final`` for the caller to write; renamed to ``final`` at the commit."""
        final = Path(final)
        temp = temp_path_for(final)
        self._pending.append((temp, final))
        return temp

    def write_bytes(self, final, data, *, verify: bool = False, fsync: bool = False, check=None) -> Path:
        """Write ``data`` (bytes or a buffer) to a new temporary sibling of ``final``; its path.

        ``verify`` reads the file back and compares it with ``data``; ``fsync`` flushes it to
        the disk; ``check(temp)``, given the complete file, may refuse it by raising (e.g. a
        scenario that does not load back).
        """
        temp = self.temp_for(final)
        with open(temp, "xb") as fh:  # "x": never write through a file someone put there
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        if verify:
            _verify_file(temp, data)
        if check is not None:
            check(temp)
        return temp

    def write_text(self, final, text: str, *, fsync: bool = False) -> Path:
        """:meth:`write_bytes` of ``text`` in UTF-8, line ends as given."""
        return self.write_bytes(final, text.encode("utf-8"), fsync=fsync)

    def make_dir(self, folder) -> Path:
        """A folder for outputs (its parent must exist); one this made is removed by :meth:`abort` when left empty."""
        folder = Path(folder)
        if not folder.is_dir():
            folder.mkdir()
            self._made.append(folder)
        return folder

    def commit(self) -> list[Path]:
        """Rename every file into place; the final paths.

        On failure (or an interrupt) the files already renamed are put back as they were (from
        hard-linked backups; a file system without hard links gets them removed instead),
        every temporary file is removed, and the error is raised again.
        """
        several = len(self._pending) > 1  # one rename is atomic by itself: no backup needed
        done: list[tuple[Path, Path | None]] = []
        backup = None
        try:
            for temp, final in self._pending:
                backup = _hard_link_backup(final) if several else None
                os.replace(temp, final)
                done.append((final, backup))
                backup = None
        except BaseException:
            for final, done_backup in reversed(done):
                with contextlib.suppress(OSError):
                    if done_backup is None:
                        os.unlink(final)
                    else:
                        os.replace(done_backup, final)
            _remove_backups([*done, (None, backup)])  # the failed file's own backup too
            self.abort()
            raise
        _remove_backups(done)
        self._pending = []
        self._made = []  # committed folders stay
        return [final for final, _ in done]

    def abort(self) -> None:
        """Remove every temporary file not yet renamed, and the folders made for them when empty."""
        for temp, _final in self._pending:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        self._pending = []
        for folder in reversed(self._made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
        self._made = []


def _hard_link_backup(final: Path) -> Path | None:
    """A hard link to the file at ``final``, kept until a multi-file commit succeeded; None when
    there is no file (or the file system has no hard links: no way back for this one)."""
    if not os.path.lexists(final):
        return None
    backup = temp_path_for(final, tag="old-")
    try:
        os.link(final, backup, follow_symlinks=False)
    except OSError:
        return None
    return backup


def _remove_backups(done) -> None:
    for _final, backup in done:
        if backup is not None:
            with contextlib.suppress(OSError):
                os.unlink(backup)


def write_bytes_atomically(path, data, *, verify: bool = False, fsync: bool = False, check=None) -> Path:
    """Write ``data`` (bytes or a buffer) to ``path`` through a temporary sibling and ``os.replace``.

    Raises the ``OSError`` of any failed step (a full disk included); the temporary file is then
    removed and ``path`` keeps its previous content (or stays absent). ``verify`` reads the
    temporary file back and compares it with ``data`` before the rename; ``fsync`` flushes it to
    the disk first; ``check(tmp)``, given the complete temporary file's path, may refuse it by
    raising (e.g. a scenario that does not load back), with the same outcome. The one-file case
    of :class:`AtomicFiles`.
    """
    with AtomicFiles() as files:
        files.write_bytes(path, data, verify=verify, fsync=fsync, check=check)
        return files.commit()[0]


def _verify_file(path: Path, data, chunk: int = 1 << 22) -> None:
    """OSError unless the file at ``path`` holds exactly ``data`` (read in chunks of ``chunk`` bytes)."""
    import numpy as np

    expected = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    buffer = np.empty(min(chunk, max(expected.size, 1)), dtype=np.uint8)
    with open(path, "rb", buffering=0) as fh:
        start = 0
        while True:
            n = fh.readinto(buffer)
            if not n:
                break
            if start + n > expected.size or not np.array_equal(buffer[:n], expected[start:start + n]):
                raise OSError(f"{path.name} does not read back as written (the file system lost or changed data)")
            start += n
    if start != expected.size:
        raise OSError(f"{path.name} is shorter than written ({start} of {expected.size} bytes)")


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, in words: 'regular file', 'folder', 'character device', ..."""
    if stat.S_ISREG(mode):
        return "regular file"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISLNK(mode):
        return "symbolic link"
    return "special file"


def _shown(text: str, target: Path) -> str:
    """``text``, followed by where it leads when that is elsewhere (a symlink, ``..``)."""
    return text if os.path.abspath(text) == str(target) else f"{text} (-> {target})"


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _in_device_tree(path: Path) -> bool:
    return any(_under(path, root) for root in _DEVICE_ROOTS) and not _under(path, _ORDINARY_UNDER_DEV)


def _stat_or_refuse(text: str, option: str) -> os.stat_result | None:
    """``os.stat`` (following symlinks); None when nothing is there (a dangling link included)."""
    try:
        return os.stat(text)
    except FileNotFoundError:
        return None
    except OSError as exc:  # a symlink loop, a parent that is a file, no permission
        raise OutputError(f"{option}: cannot use {text}: {exc.strerror or exc}; give the name of a file in an existing folder") from None


def _check_inputs(text: str, target: Path, option: str, inputs, what: str) -> None:
    """Refuse an output that is one of ``inputs`` (same file after symlinks, hard links too) or inside an input folder."""
    try:
        target_stat = os.stat(target)
    except OSError:
        target_stat = None
    for item in inputs:
        if item is None or str(item) == "":
            continue
        source = Path(os.path.realpath(item))
        try:
            source_stat = os.stat(source)
        except OSError:
            source_stat = None
        if source_stat is not None and stat.S_ISDIR(source_stat.st_mode):
            if _under(target, source):
                raise OutputError(
                    f"{option}: {_shown(text, target)} is inside the input folder {item}; adcov does not write into its "
                    f"inputs -- choose a {what} outside it"
                )
            continue
        same = target == source or (
            target_stat is not None and source_stat is not None
            and (target_stat.st_dev, target_stat.st_ino) == (source_stat.st_dev, source_stat.st_ino)
        )
        if same:
            raise OutputError(
                f"{option}: {_shown(text, target)} is the input {item}; writing it would overwrite the input -- "
                f"choose another {what}"
            )


def _check_not_empty(path, option: str, what: str) -> str:
    text = "" if path is None else os.fspath(path)
    if not str(text).strip():
        raise OutputError(f"{option}: the {what} name is empty; give the path of the {what} to write")
    return str(text)


def check_output_file(path, option: str, *, inputs=()) -> Path:
    """Where a single-file output option may write: the resolved path, or AdcovError saying why not.

    Refused: an empty name; an existing folder, device, FIFO or socket (named with its kind), or
    anything under ``/dev``, ``/proc`` or ``/sys`` (``/dev/stdout`` included: outputs are
    replaced by renaming, which a stream cannot take); a file in a folder that does not exist;
    one of ``inputs`` (same file after symlinks and hard links) or a file inside an input folder.
    A symlink is followed: the returned path is its target (checked the same way), so the link
    keeps pointing at the new file.
    """
    text = _check_not_empty(path, option, "file")
    st = _stat_or_refuse(text, option)
    target = Path(os.path.realpath(text))
    absolute = Path(os.path.abspath(text))
    if st is not None and not stat.S_ISREG(st.st_mode):
        hint = "give the name of a file to write" if stat.S_ISDIR(st.st_mode) else "give the name of a regular file"
        raise OutputError(f"{option}: {_shown(text, target)} is a {file_kind(st.st_mode)}, not a file name adcov can replace; {hint}")
    if _in_device_tree(absolute) or _in_device_tree(target):
        raise OutputError(f"{option}: {_shown(text, target)} is under /dev, /proc or /sys (a device or stream, not a file); "
                         "give the name of a regular file to write")
    if st is not None:
        try:
            same = os.path.samefile(target, text)
        except OSError:
            same = False
        if not same:  # e.g. /proc "magic" links to deleted files
            raise OutputError(f"{option}: {_shown(text, target)} does not lead to a file adcov can replace; give a regular file name")
    folder = target.parent
    given = os.path.dirname(text) or "."
    shown = given if os.path.realpath(given) == str(folder) else str(folder)  # the name the user gave, unless a link led elsewhere
    if not folder.is_dir():
        raise OutputError(f"{option}: folder {shown!r} does not exist (create it first)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{option}: folder {shown!r} is not writable; choose another place for {text}")
    _check_inputs(text, target, option, inputs, "file")
    return target


def check_distinct_outputs(*named_paths) -> None:
    """Refuse two output options naming the same file: ``(option, resolved path or None)`` pairs."""
    seen: dict[Path, str] = {}
    for option, path in named_paths:
        if path is None:
            continue
        key = Path(os.path.realpath(path))
        if key in seen:
            raise OutputError(f"{seen[key]} and {option}: both name {key}; one would overwrite the other -- give two different files")
        seen[key] = option


def check_output_folder(path, option: str, *, inputs=()) -> Path:
    """Where a folder output option (a report folder) may write: the resolved path, or AdcovError.

    Refused: an empty name; an existing file, device, FIFO or socket (named with its kind);
    anything under ``/dev``, ``/proc`` or ``/sys``; a folder that is or holds one of ``inputs``.
    A missing folder is fine (it is created, with its parents); a symlink is followed.
    """
    text = _check_not_empty(path, option, "folder")
    st = _stat_or_refuse(text, option)
    target = Path(os.path.realpath(text))
    if st is not None and not stat.S_ISDIR(st.st_mode):
        kind = "file" if stat.S_ISREG(st.st_mode) else file_kind(st.st_mode)
        raise OutputError(f"{option}: {_shown(text, target)} is a {kind}, not a folder; give the name of a new folder or of an "
                         "earlier adcov report folder")
    if _in_device_tree(Path(os.path.abspath(text))) or _in_device_tree(target):
        raise OutputError(f"{option}: {_shown(text, target)} is under /dev, /proc or /sys; give the name of a folder for the report")
    for item in inputs:
        if item is None or str(item) == "":
            continue
        source = Path(os.path.realpath(item))
        if _under(source, target) or _under(target, source):
            raise OutputError(
                f"{option}: {_shown(text, target)} and the input {item} overlap (a report folder is replaced as a whole); "
                "choose a report folder that neither holds nor lies inside an input"
            )
    return target


# ============================================================================ staging folders

#: Temporary folders being filled for an output folder (temporary -> final), so that an error
#: about a file inside one names the file as the user will know it.
_staging: dict[Path, Path] = {}


def register_staging(tmp, final) -> None:
    with _lock:
        _staging[Path(tmp)] = Path(final)


def unregister_staging(tmp) -> None:
    with _lock:
        _staging.pop(Path(tmp), None)


def shown_path(path) -> str:
    """``path`` for messages: a file inside a registered staging folder under its final name."""
    path = Path(path)
    with _lock:
        staged = list(_staging.items())
    for tmp, final in staged:
        if _under(path, tmp):
            return str(final / path.relative_to(tmp))
    return str(path)


def csv_text(columns, rows) -> str:
    """CSV with a header row; floats as Python writes them (shortest repr, exact round trip);
    None as an empty field. One format for every table adcov writes (reports, sweeps)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()
