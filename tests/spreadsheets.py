"""Spreadsheets written part by part with zipfile, for the hostile-file tests: openpyxl would
not write a lying dimension, a formula with a saved value or a DTD; the .ods ones likewise."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_CT}.worksheet+xml"/>'
    f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_CT}.sharedStrings+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_PKG}">'
    f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{_REL}">'
    '<sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_PKG}">'
    f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)
_NO_STRINGS = f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}" count="0"/>'
BOMB_DTD = (
    '<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(2, 10)).replace(
        "&lol1;", "&lol;"
    )
    + "]>"
)
TABLE = (
    '<row r="1"><c r="A1" t="inlineStr"><is><t>first_id</t></is></c>'
    '<c r="B1" t="inlineStr"><is><t>second_id</t></is></c></row>'
    '<row r="2"><c r="A2" t="inlineStr"><is><t>a1</t></is></c>'
    '<c r="B2" t="inlineStr"><is><t>b1</t></is></c></row>'
    '<row r="3"><c r="A3" t="inlineStr"><is><t>a2</t></is></c>'
    '<c r="B3" t="inlineStr"><is><t>b2</t></is></c></row>'
)


def sheet_xml(rows: str, *, dimension: str = "A1:B3", prolog: str = "") -> str:
    return (
        (prolog or '<?xml version="1.0" encoding="UTF-8"?>')
        + f'<worksheet xmlns="{MAIN}"><dimension ref="{dimension}"/>'
        + f"<sheetData>{rows}</sheetData></worksheet>"
    )


def write_xlsx(
    tmp_path: Path,
    sheet: str | Callable[[zipfile.ZipFile], None],
    *,
    strings: str = _NO_STRINGS,
    name: str = "in.xlsx",
) -> Path:
    """An .xlsx with one sheet: its XML, or a function that writes the part itself."""
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/sharedStrings.xml", strings)
        if isinstance(sheet, str):
            archive.writestr("xl/worksheets/sheet1.xml", sheet)
        else:
            sheet(archive)
    return path


_ODS_MIMETYPE = "application/vnd.oasis.opendocument.spreadsheet"
_ODS_CONTENT = (
    '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
    '<office:body><office:spreadsheet><table:table table:name="S">{}</table:table>'
    "</office:spreadsheet></office:body></office:document-content>"
)
_ODS_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
    'manifest:version="1.2">'
    f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{_ODS_MIMETYPE}"/>'
    '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    "</manifest:manifest>"
)


def ods_row(text: str) -> str:
    return (
        '<table:table-row><table:table-cell office:value-type="string">'
        f"<text:p>{text}</text:p></table:table-cell></table:table-row>"
    )


def write_ods(tmp_path: Path, rows: str, *, prolog: str = "") -> Path:
    """in.ods with one table of ``rows``; ``prolog`` in place of its XML declaration."""
    content = _ODS_CONTENT.format(rows)
    if prolog:
        content = prolog + content.split("?>", 1)[1]
    path = tmp_path / "in.ods"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), _ODS_MIMETYPE, zipfile.ZIP_STORED)
        archive.writestr("content.xml", content)
        archive.writestr("META-INF/manifest.xml", _ODS_MANIFEST)
    return path
