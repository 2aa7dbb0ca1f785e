"""Hostile cache entries and scenario files: forged, swapped, blocking, oversized, foreign.

Each input is generated here. A cache entry that is not what adcov wrote is discarded and
recomputed (never a traceback, never an allocation larger than the file); a scenario that is
not one ends with exit status 2 and a named reason, without showing a foreign file's content.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from simulator.cache import EnvelopeCache, cache_key
from simulator.cli import main

SECRET_LINES = [f"user{i}:$6$not-a-real-hash-{i}:19000:0:99999:7:::" for i in range(20)]
CLI = "import sys; from simulator.cli import main; sys.exit(main(sys.argv[1:]))"


def _entry(cache: EnvelopeCache, key: str) -> Path:
    return cache.directory / key[:2] / f"{key}.npz"


@pytest.fixture
def cache(tmp_path) -> EnvelopeCache:
    return EnvelopeCache(tmp_path / "cache")


def _valid(cache: EnvelopeCache, key: str) -> dict:
    arrays = {"floor": np.arange(12, dtype=np.float32).reshape(3, 4), "ceiling": np.full((3, 4), 9.0, np.float32)}
    cache.put(key, arrays)
    return arrays


def _forged_npz(declared_shape) -> bytes:
    """An uncompressed npz whose one member's .npy header declares ``declared_shape`` float64
    but holds 8 bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": declared_shape})
    member = header.getvalue() + b"\0" * 8
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("floor.npy", member)
    return out.getvalue()


@pytest.mark.parametrize("forgery", ["plain-npy", "zip-declaring-12-GB", "empty", "text", "pickle-object-array",
                                     "compressed-member"])
def test_a_forged_cache_entry_is_discarded_and_allocates_nothing_large(cache, forgery):
    key = cache_key(test="forged")
    _valid(cache, key)
    path = _entry(cache, key)
    if forgery == "plain-npy":
        with open(path, "wb") as fh:
            np.save(fh, np.zeros((3, 4)))
    elif forgery == "zip-declaring-12-GB":
        path.write_bytes(_forged_npz((40_000, 40_000)))  # 12.8 GB of float64 declared
    elif forgery == "empty":
        path.write_bytes(b"")
    elif forgery == "text":
        path.write_text("\n".join(SECRET_LINES))
    elif forgery == "pickle-object-array":
        with open(path, "wb") as fh:
            np.savez(fh, floor=np.array([{"a": 1}], dtype=object))
    else:
        with open(path, "wb") as fh:
            np.savez_compressed(fh, floor=np.zeros((3, 4)))
    # numpy reports its allocations to tracemalloc: a 12 GB array, even one the OS would
    # overcommit, shows up in the peak
    tracemalloc.start()
    try:
        assert cache.get(key) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20
    assert not path.exists()
    assert cache.recovered_corrupt == 1


def test_a_swapped_cache_entry_is_not_used_for_another_question(cache):
    key_a, key_b = cache_key(unit="a"), cache_key(unit="b")
    _valid(cache, key_a)
    cache.put(key_b, {"floor": np.zeros((3, 4), np.float32), "ceiling": np.zeros((3, 4), np.float32)})
    a, b = _entry(cache, key_a), _entry(cache, key_b)
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    assert cache.get(key_a) is None and cache.get(key_b) is None


def test_a_valid_entry_reads_back_exactly(cache):
    key = cache_key(test="valid")
    arrays = _valid(cache, key)
    got = cache.get(key)
    assert got is not None and set(got) == set(arrays)
    for name in arrays:
        np.testing.assert_array_equal(got[name], arrays[name])
        assert got[name].dtype == arrays[name].dtype and got[name].flags.writeable


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("how", ["fifo", "symlink-to-fifo", "symlink-to-valid-entry"])
def test_a_cache_entry_that_is_not_a_regular_file_is_discarded_without_blocking(tmp_path, how):
    # in a child process: a blocking open() would hang the test run, not fail it
    code = f"""
import os, numpy as np
from pathlib import Path
from simulator.cache import EnvelopeCache, cache_key
cache = EnvelopeCache({str(tmp_path / 'cache')!r})
key, other = cache_key(test="fifo"), cache_key(test="other")
cache.put(key, {{"floor": np.zeros((2, 2), np.float32)}})
cache.put(other, {{"floor": np.ones((2, 2), np.float32)}})
path = cache.directory / key[:2] / f"{{key}}.npz"
path.unlink()
fifo = Path({str(tmp_path / 'pipe')!r})
os.mkfifo(fifo)
if {how!r} == "fifo":
    os.mkfifo(path)
elif {how!r} == "symlink-to-fifo":
    path.symlink_to(fifo)
else:
    path.symlink_to(cache.directory / other[:2] / f"{{other}}.npz")
assert cache.get(key) is None
assert not os.path.lexists(path)
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


# ------------------------------------------------------------------------------ scenario files
def _run(argv, capsys) -> tuple[int, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("target", ["passwd", "passwd.yaml", "config.yaml"])
def test_extends_reads_scenario_files_only_and_shows_nothing_of_another(tmp_path, capsys, target):
    foreign = tmp_path / target
    if target == "config.yaml":  # YAML, but not a scenario: its keys must not be listed
        foreign.write_text(yaml.safe_dump({line.split(":")[0]: line for line in SECRET_LINES}))
    else:
        foreign.write_text("\n".join(SECRET_LINES) + "\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"schema_version: 1\nname: s\nextends: {foreign}\n")
    for command in ("validate", "run"):
        code, text = _run([command, str(scenario)], capsys)
        assert code == 2, text
        assert "not-a-real-hash" not in text and "user1" not in text, text
        assert ("not a scenario file" in text) or ("not an adcov scenario" in text), text


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("which", ["scenario", "extends"])
def test_a_fifo_scenario_ends_at_once(tmp_path, which):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    if which == "scenario":
        path = fifo
    else:
        path = tmp_path / "s.yaml"
        path.write_text(f"schema_version: 1\nname: s\nextends: {fifo.name}\n")
    proc = subprocess.run([sys.executable, "-c", CLI, "validate", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "not a regular file" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_a_huge_flow_list_is_refused_before_it_is_built(tmp_path):
    """15 MB, one flow list of millions of scalars (under the 16 MiB byte cap): refused while
    composing, with a bounded memory (an address-space limit of 1 GB in the child)."""
    path = tmp_path / "bomb.yaml"
    with open(path, "w") as fh:
        fh.write("schema_version: 1\nname: bomb\nx-junk: [")
        fh.write("1," * 7_500_000)
        fh.write("1]\n")
    assert path.stat().st_size < 16 * 2**20
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30)); "
    proc = subprocess.run([sys.executable, "-c", limit + CLI, "validate", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "document too large" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("name", ["evil\x1b[2J\x1b[31mRED", "bad\ud800name", "bell\x07"])
def test_control_characters_and_lone_surrogates_in_text_are_refused(tmp_path, capsys, name):
    path = tmp_path / "s.yaml"
    escaped = name.encode("unicode_escape", "backslashreplace").decode().replace('"', '\\"')
    path.write_text(f'schema_version: 1\nname: "{escaped}"\nterrain: none.tif\nunits: []\n')
    code, text = _run(["validate", str(path)], capsys)
    assert code == 2
    assert "\x1b" not in text and "\x07" not in text
    assert "control character" in text or "lone surrogate" in text


@pytest.mark.parametrize("unit_id, ok", [("x" * 64, True), ("x" * 65, False), ("x" * 300, False),
                                         ("a/b", False), ("..", True), ("combined", True)])
def test_unit_ids_are_file_name_safe(unit_id, ok):
    from pydantic import TypeAdapter, ValidationError

    from simulator.scenario import _UnitId

    adapter = TypeAdapter(_UnitId)
    if ok:
        assert adapter.validate_python(unit_id) == unit_id
    else:
        with pytest.raises(ValidationError):
            adapter.validate_python(unit_id)


@pytest.mark.slow
def test_unit_ids_that_look_like_output_names_do_not_collide(tmp_path, capsys):
    from synthetic import rough_elevation_m, unit_at, utm_terrain, write_scenario

    elevation = rough_elevation_m((50, 50), seed=11)
    terrain = utm_terrain(elevation, 90.0)
    units = [unit_at(terrain, "combined", 20, 20), unit_at(terrain, "x" * 64, 30, 30)]
    scenario = write_scenario(tmp_path, elevation, 90.0, units, name="collide")
    out = tmp_path / "report"
    code, text = _run(["run", str(scenario), "--out", str(out)], capsys)
    assert code == 0, text
    rasters = {p.name for p in (out / "rasters").iterdir()}
    for layer in ("detection", "engagement"):
        assert f"floor_{layer}_combined.tif" in rasters
        assert f"floor_{layer}_unit-combined.tif" in rasters
        assert f"floor_{layer}_unit-{'x' * 64}.tif" in rasters
