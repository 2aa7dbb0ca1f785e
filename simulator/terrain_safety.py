"""What adcov will open as terrain: local regular files of the raster formats it lists.

A scenario file is data someone may send you, and its ``terrain:`` names files GDAL opens.
GDAL can reach the network (``/vsicurl/``, ``/vsis3/``, URLs), read any local file as
pixels (a VRT's ``VRTRawRasterBand``), take a whole VRT document as a "file name", and block
forever on a FIFO. Before GDAL sees a path, :func:`check_terrain_file` requires:

* a local path, not a GDAL virtual file system (``/vsi…``), a URL or inline XML;
* a regular file (after symlinks are followed): no FIFO, device, socket or folder;
* a suffix of :data:`ALLOWED_SUFFIXES` (DTED, SRTM ``.hgt``, GeoTIFF, ERDAS ``.img``, VRT);
* for a VRT: a ``VRTDataset`` of plain sourced bands whose every source passes the same
  checks (VRTs nested at most :data:`MAX_VRT_DEPTH` deep) and lies in the VRT's own folder
  (or below it). ``ADCOV_ALLOW_VRT_SOURCES_ANYWHERE=1`` lifts that last rule for local
  files; nothing lifts the others.

GDAL itself is also opened with network access switched off (:data:`GDAL_NO_NETWORK`).
"""

from __future__ import annotations

import os
import stat
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from simulator.errors import TerrainError
from simulator.fileio import file_kind

ALLOWED_SUFFIXES: tuple[str, ...] = (".dt0", ".dt1", ".dt2", ".hgt", ".tif", ".tiff", ".vrt", ".img")
#: Nested VRTs deeper than this are refused (a VRT naming itself would never end).
MAX_VRT_DEPTH = 4
#: A VRT larger than this is not a terrain mosaic description. [bytes]
MAX_VRT_BYTES = 16 * 2**20
ALLOW_ANYWHERE_ENV = "ADCOV_ALLOW_VRT_SOURCES_ANYWHERE"
#: GDAL configuration for every terrain open: no HTTP at all (curl-based file systems only
#: accept this impossible extension), no folder listing next to the file.
GDAL_NO_NETWORK = {
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".adcov-network-disabled",
    "GDAL_HTTP_MAX_RETRY": "0",
    "GDAL_HTTP_TIMEOUT": "1",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_VRT_ENABLE_PYTHON": "NO",
}
#: Band classes of a VRT adcov reads (sources only); raw and derived bands are refused.
_PLAIN_BANDS = {None, "", "VRTSourcedRasterBand"}
_SOURCE_TAGS = {"SimpleSource", "ComplexSource", "AveragedSource", "KernelFilteredSource"}


def remote_reason(name: str) -> str | None:
    """Why ``name`` is not a local file name for GDAL (a /vsi path, a URL, inline XML, a
    driver connection string), or None."""
    text = name.strip()
    lowered = text.lower()
    if lowered.startswith("/vsi"):
        return "a GDAL virtual file system path (/vsi...)"
    if "://" in lowered:
        return "a URL"
    if text.startswith("<"):
        return "inline XML, not a file name"
    if lowered.startswith(("http:", "https:", "ftp:")):
        return "a URL"
    prefix = text.split("/", 1)[0].split("\\", 1)[0]
    if ":" in prefix and not os.path.isabs(text) and len(prefix.split(":", 1)[0]) > 1:
        return f"a GDAL connection string ({prefix.split(':', 1)[0]}:...)"
    return None


def check_terrain_file(path, *, _depth: int = 0, _via: Path | None = None) -> Path:
    """Check that ``path`` is a terrain file adcov may hand to GDAL (see the module
    docstring); returns it resolved. Raises :class:`TerrainError` naming the file and why."""
    name = os.fspath(path)
    where = f" (a source of {_via})" if _via is not None else ""
    reason = remote_reason(name)
    if reason:
        raise TerrainError(
            f"terrain {name!r}{where} is {reason}: adcov reads local raster files only and never the network"
        )
    resolved = Path(name).expanduser().resolve()
    try:
        st = os.stat(resolved)
    except FileNotFoundError:
        raise TerrainError(
            f"terrain path {name}{where} does not exist (expected a raster file or a folder of rasters)"
        ) from None
    except OSError as exc:
        raise TerrainError(f"terrain file {name}{where} cannot be read: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(st.st_mode):
        raise TerrainError(f"terrain file {name}{where} is a {file_kind(st.st_mode)}; expected a regular raster file")
    if resolved.suffix.lower() not in ALLOWED_SUFFIXES:
        raise TerrainError(
            f"terrain file {name}{where} is not a raster format adcov reads "
            f"(suffix {resolved.suffix or 'none'}; expected one of {', '.join(ALLOWED_SUFFIXES)})"
        )
    if resolved.suffix.lower() == ".vrt":
        _check_vrt(resolved, st.st_size, _depth)
    return resolved


def _check_vrt(vrt: Path, size: int, depth: int) -> None:
    if depth >= MAX_VRT_DEPTH:
        raise TerrainError(f"terrain VRT {vrt} nests VRTs more than {MAX_VRT_DEPTH} deep (or names itself)")
    if size > MAX_VRT_BYTES:
        raise TerrainError(f"terrain VRT {vrt} is {size:,} bytes; a VRT over {MAX_VRT_BYTES // 2**20} MiB is refused")
    try:
        root = ElementTree.fromstring(vrt.read_bytes())
    except (ElementTree.ParseError, OSError, ValueError) as exc:
        raise TerrainError(f"terrain VRT {vrt} is not a readable VRT document: {exc}") from exc
    if root.tag != "VRTDataset":
        raise TerrainError(f"terrain VRT {vrt}: the document is <{root.tag}>, expected <VRTDataset>")
    anywhere = os.environ.get(ALLOW_ANYWHERE_ENV, "") == "1"
    folder = vrt.parent
    for band in root.iter("VRTRasterBand"):
        sub_class = band.get("subClass")
        if sub_class not in _PLAIN_BANDS:
            raise TerrainError(
                f"terrain VRT {vrt}: band class {sub_class} is refused "
                "(raw and derived bands read arbitrary bytes or run code); only sourced bands are read"
            )
    for element in root.iter():
        if element.tag in ("SourceFilename", "SourceDataset", "SrcDataset", "ColorTableFile"):
            if element.tag != "SourceFilename":
                raise TerrainError(f"terrain VRT {vrt}: <{element.tag}> is refused; only <SourceFilename> sources are read")
            text = (element.text or "").strip()
            if not text:
                raise TerrainError(f"terrain VRT {vrt}: an empty <SourceFilename>")
            reason = remote_reason(text)
            if reason:
                raise TerrainError(
                    f"terrain VRT {vrt}: source {text!r} is {reason}; adcov reads local raster files only and never "
                    "the network"
                )
            relative = element.get("relativeToVRT", "0") == "1" or not os.path.isabs(text)
            source = (folder / text) if relative else Path(text)
            source_resolved = source.resolve()
            if not anywhere and not source_resolved.is_relative_to(folder):
                raise TerrainError(
                    f"terrain VRT {vrt}: source {text} lies outside the VRT's folder {folder}; "
                    f"move the tiles beside the VRT, or set {ALLOW_ANYWHERE_ENV}=1 to read local files elsewhere"
                )
            check_terrain_file(source_resolved, _depth=depth + 1, _via=vrt)
    for element in root.iter():
        if element.tag.endswith("Source") and element.tag not in _SOURCE_TAGS and element.tag != "VRTDataset":
            if element.find("SourceFilename") is not None:
                raise TerrainError(f"terrain VRT {vrt}: source kind <{element.tag}> is refused")


def terrain_source_files(path) -> list[Path]:
    """Every local file a terrain path reads: the file itself and, for a VRT, its sources
    (recursively, as far as :data:`MAX_VRT_DEPTH`). For output checks: an output must never
    replace a file the input reads. Unreadable documents contribute what could be read (opening
    the terrain reports them)."""
    found: list[Path] = []

    def visit(name, depth: int) -> None:
        if remote_reason(os.fspath(name)):
            return
        resolved = Path(os.fspath(name)).expanduser().resolve()
        if resolved in found:
            return
        found.append(resolved)
        if resolved.suffix.lower() != ".vrt" or depth >= MAX_VRT_DEPTH:
            return
        try:
            if os.path.getsize(resolved) > MAX_VRT_BYTES or not resolved.is_file():
                return
            root = ElementTree.fromstring(resolved.read_bytes())
        except (ElementTree.ParseError, OSError, ValueError):
            return
        for element in root.iter("SourceFilename"):
            text = (element.text or "").strip()
            if not text or remote_reason(text):
                continue
            relative = element.get("relativeToVRT", "0") == "1" or not os.path.isabs(text)
            visit((resolved.parent / text) if relative else Path(text), depth + 1)

    visit(path, 0)
    return found
