"""The one atomic-write implementation (simulator.fileio.AtomicFiles): all files or none."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from simulator import fileio
from simulator.fileio import TMP_PREFIX, AtomicFiles, write_bytes_atomically

ROOT = Path(__file__).resolve().parent.parent


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_files_appear_together_at_the_commit(tmp_path):
    (tmp_path / "a.csv").write_text("old a")
    with AtomicFiles() as files:
        files.write_text(tmp_path / "a.csv", "new a")
        files.write_bytes(tmp_path / "b.tif", b"new b", verify=True, fsync=True)
        assert (tmp_path / "a.csv").read_text() == "old a" and not (tmp_path / "b.tif").exists()
        temps = [p for p in tmp_path.iterdir() if p.name.startswith(TMP_PREFIX)]
        assert sorted(p.suffix for p in temps) == [".csv", ".tif"]  # a format picked by suffix is the same
        assert files.commit() == [tmp_path / "a.csv", tmp_path / "b.tif"]
    assert (tmp_path / "a.csv").read_text() == "new a" and (tmp_path / "b.tif").read_bytes() == b"new b"
    assert _names(tmp_path) == ["a.csv", "b.tif"]


def test_a_failed_rename_puts_every_file_back(tmp_path, monkeypatch):
    for name in ("a.txt", "b.txt", "c.txt"):
        (tmp_path / name).write_text(f"old {name}")
    real_replace = os.replace
    calls = []

    def third_rename_fails(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(fileio.os, "replace", third_rename_fails)
    files = AtomicFiles()
    for name in ("a.txt", "b.txt", "c.txt"):
        files.write_text(tmp_path / name, f"new {name}")
    with pytest.raises(OSError, match="No space"):
        files.commit()
    monkeypatch.undo()
    assert {n: (tmp_path / n).read_text() for n in _names(tmp_path)} == {n: f"old {n}" for n in ("a.txt", "b.txt", "c.txt")}


def test_a_file_new_at_a_failed_commit_is_removed_again(tmp_path, monkeypatch):
    real_replace = os.replace
    calls = []

    def second_rename_fails(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(fileio.os, "replace", second_rename_fails)
    with AtomicFiles() as files:
        files.write_text(tmp_path / "new.txt", "x")
        files.write_text(tmp_path / "other.txt", "y")
        with pytest.raises(KeyboardInterrupt):
            files.commit()
    assert _names(tmp_path) == []


def test_leaving_without_a_commit_removes_temporaries_and_made_folders(tmp_path):
    with pytest.raises(RuntimeError), AtomicFiles() as files:
        folder = files.make_dir(tmp_path / "companions")
        files.write_text(folder / "levels.geojson", "{}")
        files.write_text(tmp_path / "results.csv", "a,b\n")
        raise RuntimeError("the sweep failed")
    assert _names(tmp_path) == []


def test_a_refused_file_keeps_the_previous_one(tmp_path):
    (tmp_path / "s.yaml").write_text("old")

    def refuse(temp):
        assert Path(temp).read_text() == "new"
        raise ValueError("does not load back")

    with pytest.raises(ValueError):
        write_bytes_atomically(tmp_path / "s.yaml", b"new", check=refuse)
    assert _names(tmp_path) == ["s.yaml"] and (tmp_path / "s.yaml").read_text() == "old"


def test_one_atomic_write_implementation():
    """Files are put in place by simulator.fileio only (the report's staged folder renames a folder)."""
    renames = re.compile(r"\bos\.(replace|rename)\(|\bmkstemp\(|\bNamedTemporaryFile\(")
    found = []
    for path in sorted((ROOT / "simulator").rglob("*.py")) + sorted((ROOT / "gui").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if renames.search(code):
                found.append(f"{path.relative_to(ROOT)}:{number}")
    assert all(f.startswith(("simulator/fileio.py:", "simulator/export/staging.py:")) for f in found), found
    staging = [f for f in found if f.startswith("simulator/export/staging.py:")]
    assert len(staging) == 4  # the staged report folder: in, aside, back
