"""KML 2.2 and KMZ for Google Earth: styled placemarks in nested folders, written atomically."""

from __future__ import annotations

import html
import io
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

from simulator.errors import AdcovError
from simulator.export.staging import _atomic_write_bytes
from simulator.export.style import BLUE, BLUISH_GREEN, INK, VERMILLION

KML_NS = "http://www.opengis.net/kml/2.2"

#: KML style per kind: (fill colour, fill opacity 0-1, outline colour, outline width px, filled).
KML_STYLES = {
    "coverage": (BLUE, 0.30, BLUE, 1.5, True),
    "coverage-multi": (BLUE, 0.55, BLUE, 1.5, True),
    "baseline": (INK, 0.0, "#555555", 1.5, False),
    "lost": (VERMILLION, 0.50, VERMILLION, 2.0, True),
    "gained": (BLUISH_GREEN, 0.55, BLUISH_GREEN, 2.0, True),
    "site": (INK, 1.0, INK, 1.0, True),
    "site-withdrawn": (VERMILLION, 1.0, VERMILLION, 1.0, True),
    "site-added": (BLUISH_GREEN, 1.0, BLUISH_GREEN, 1.0, True),
}


def _kml_colour(hex_rgb: str, opacity: float) -> str:
    """KML colours are ``aabbggrr``."""
    r, g, b = hex_rgb[1:3], hex_rgb[3:5], hex_rgb[5:7]
    return f"{round(opacity * 255):02x}{b}{g}{r}".lower()


def _kml_style_id(props: dict) -> str:
    kind = props.get("kind", "coverage")
    if kind == "coverage":
        if props.get("role") == "baseline":
            return "baseline"
        return "coverage-multi" if (props.get("depth") or 1) > 1 else "coverage"
    if kind == "site":
        status = props.get("status", "")
        return {"withdrawn": "site-withdrawn", "added": "site-added"}.get(status, "site")
    return kind if kind in KML_STYLES else "coverage"


def _kml_placemark_name(props: dict) -> str:
    kind = props.get("kind", "coverage")
    if kind == "site":
        return props.get("name") or props.get("unit_id", "site")
    units = ", ".join(props.get("unit_ids") or [])
    area = props.get("area_km2")
    area_text = f" - {area:,.0f} km2" if isinstance(area, (int, float)) else ""
    who = f"{props['scenario']} " if props.get("scenario") else ""
    if kind == "coverage":
        return f"{who}covered by {units or 'units'}{area_text}"
    return f"{kind}{area_text} ({units})" if units else f"{kind}{area_text}"


def _kml_coordinates(ring_coords) -> str:
    return " ".join(f"{x:.6f},{y:.6f}" for x, y in ring_coords)


def _kml_polygon(parent, rings) -> None:
    polygon = ET.SubElement(parent, "Polygon")
    ET.SubElement(polygon, "tessellate").text = "1"
    for i, ring in enumerate(rings):
        boundary = ET.SubElement(polygon, "outerBoundaryIs" if i == 0 else "innerBoundaryIs")
        linear = ET.SubElement(boundary, "LinearRing")
        ET.SubElement(linear, "coordinates").text = _kml_coordinates(ring)


def _kml_placemark(folder, feature: dict, visible: bool = True) -> None:
    props = feature.get("properties") or {}
    geometry = feature.get("geometry")
    if not geometry:
        return
    pm = ET.SubElement(folder, "Placemark")
    ET.SubElement(pm, "name").text = _kml_placemark_name(props)
    if not visible:
        ET.SubElement(pm, "visibility").text = "0"
    rows = "".join(f"<tr><td>{k}</td><td>{_html_escape(_prop_text(v))}</td></tr>" for k, v in props.items())
    ET.SubElement(pm, "description").text = f"<table>{rows}</table>"
    ET.SubElement(pm, "styleUrl").text = f"#{_kml_style_id(props)}"
    extended = ET.SubElement(pm, "ExtendedData")
    for k, v in props.items():
        data = ET.SubElement(extended, "Data", name=str(k))
        ET.SubElement(data, "value").text = _prop_text(v)
    kind = geometry["type"]
    if kind == "Point":
        point = ET.SubElement(pm, "Point")
        x, y = geometry["coordinates"][:2]
        ET.SubElement(point, "coordinates").text = f"{x:.6f},{y:.6f}"
    elif kind == "Polygon":
        _kml_polygon(pm, geometry["coordinates"])
    elif kind == "MultiPolygon":
        multi = ET.SubElement(pm, "MultiGeometry")
        for rings in geometry["coordinates"]:
            _kml_polygon(multi, rings)
    else:
        raise AdcovError(f"KML export: geometry type {kind!r} is not supported; expected Point, Polygon or MultiPolygon")


def _prop_text(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if value is None:
        return ""
    return str(value)


def _html_escape(text: str) -> str:
    return html.escape(text, quote=False)  # &, < and > (quotes stay: the text is element content)


def kml_document(feature_groups, *, name: str = "adcov", description: str = "") -> bytes:
    """KML 2.2 document bytes; see :func:`write_kml`."""
    ET.register_namespace("", KML_NS)
    root = ET.Element(f"{{{KML_NS}}}kml")
    doc = ET.SubElement(root, "Document")
    ET.SubElement(doc, "name").text = name
    ET.SubElement(doc, "open").text = "1"
    if description:
        ET.SubElement(doc, "description").text = description
    for style_id, (fill, opacity, line, width, filled) in KML_STYLES.items():
        style = ET.SubElement(doc, "Style", id=style_id)
        if style_id.startswith("site"):
            icon_style = ET.SubElement(style, "IconStyle")
            ET.SubElement(icon_style, "color").text = _kml_colour(fill, 1.0)
            ET.SubElement(icon_style, "scale").text = "1.1"
            icon = ET.SubElement(icon_style, "Icon")
            ET.SubElement(icon, "href").text = "http://maps.google.com/mapfiles/kml/shapes/triangle.png"
            label = ET.SubElement(style, "LabelStyle")
            ET.SubElement(label, "color").text = _kml_colour(fill, 1.0)
            continue
        line_style = ET.SubElement(style, "LineStyle")
        ET.SubElement(line_style, "color").text = _kml_colour(line, 1.0)
        ET.SubElement(line_style, "width").text = f"{width:g}"
        poly_style = ET.SubElement(style, "PolyStyle")
        ET.SubElement(poly_style, "color").text = _kml_colour(fill, opacity)
        ET.SubElement(poly_style, "fill").text = "1" if filled else "0"
        ET.SubElement(poly_style, "outline").text = "1"
    folders: dict[tuple[str, ...], ET.Element] = {}

    def folder_for(path: tuple[str, ...]) -> ET.Element:
        if not path:
            return doc
        if path not in folders:
            parent = folder_for(path[:-1])
            folder = ET.SubElement(parent, "Folder")
            ET.SubElement(folder, "name").text = path[-1]
            folders[path] = folder
        return folders[path]

    for group in feature_groups:
        group_path, features = group[0], group[1]
        options = group[2] if len(group) > 2 else {}
        path = (group_path,) if isinstance(group_path, str) else tuple(group_path)
        folder = folder_for(path)
        if options.get("description"):
            ET.SubElement(folder, "description").text = options["description"]
        if options.get("visible") is False:
            ET.SubElement(folder, "visibility").text = "0"
        for feature in features:
            _kml_placemark(folder, feature, visible=options.get("visible", True))
    ET.indent(root, space=" ")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def write_kml(path, feature_groups, *, kmz: bool = False, name: str = "adcov", description: str = "") -> Path:
    """Write a styled KML (or KMZ: a zip holding ``doc.kml``) for Google Earth, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination ``.kml`` or ``.kmz``.
    feature_groups : iterable of (folder, features[, options])
        ``folder`` is a folder name or a tuple of nested names (e.g. ``("Engagement",
        "100 m MSL")``: one folder per altitude); ``features`` are GeoJSON features (Polygon,
        MultiPolygon or Point in lon/lat), styled by ``properties.kind`` (coverage / lost /
        gained / site) and ``role``; ``options`` may set ``description`` and ``visible``.
    kmz : bool
        Write a KMZ archive instead of plain KML.
    name, description : str
        Document name and description (put the assumptions there).
    """
    data = kml_document(feature_groups, name=name, description=description)
    if kmz:
        data = _kmz_bytes(data)
    return _atomic_write_bytes(Path(path), data)


def _kmz_bytes(kml: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("doc.kml", date_time=(2000, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, kml)
    return buffer.getvalue()
