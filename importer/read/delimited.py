"""Read a delimited text file (CSV, TSV, semicolon- or pipe-separated) as a :class:`Table`.

The file is read twice, in constant memory. First a scan in binary chunks decides the encoding
(a byte-order mark; else UTF-8 if every byte decodes; else Windows-1252, with a notice) and
finds the line of a byte that does not decode or of a NUL character. Then ``csv.reader`` parses
it with ``strict=True`` through a strict ``TextIOWrapper``. The delimiter is the one of
``, ; TAB |`` that occurs most outside quotes in the header line (ties and a one-column header go
to the file's usual one: tab for .tsv, else comma).

Every CSV record is one row, as a spreadsheet program shows it: a blank line is a row (never
yielded), a quoted cell over several lines is a single row.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from importer.errors import InputError
from importer.models import Issue, SourceRow
from importer.read._header import LOOKAHEAD, HeaderRule, find_header
from importer.read._table import BLANK, Table, make_header, quote

if TYPE_CHECKING:
    from _csv import Reader

#: Bytes read at a time while scanning the encoding.
CHUNK = 1 << 16
#: The largest cell accepted (``csv.field_size_limit`` is set to it, process-wide). A larger
#: one almost always means a quote that is never closed.
FIELD_LIMIT = 16 * 1024 * 1024
#: The longest line accepted, in characters: the scan refuses a longer one before the csv
#: module reads it whole into memory (a 1 GB file without a line break). Twice the field
#: limit, so that a line with one overlong cell gets the csv module's message about the cell.
LINE_LIMIT = 2 * FIELD_LIMIT
DELIMITERS = (",", ";", "\t", "|")
_BOMS = (  # UTF-32 first: its little-endian mark starts like UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_WIDE = ("utf-16", "utf-32")  # encodings in which NUL bytes are normal
_MAGIC = (
    (
        b"PK\x03\x04",
        "an Excel workbook or another zip archive",
        "If it is an Excel file, rename it to .xlsx.",
    ),
    (
        b"\xd0\xcf\x11\xe0",
        "an old Excel (.xls) or other Office file",
        "Open it in Excel and save it as .xlsx or as CSV UTF-8.",
    ),
    (b"%PDF", "a PDF document", "Export the data from the original spreadsheet as CSV."),
)
#: How much of the top of the file the header search reads line by line, at most.
_HEAD_LIMIT = 1 << 20
_NO_NUMERIC: frozenset[int] = frozenset()
#: What a blank record before the header may hold.
_HEAD_BLANK = BLANK + '",;|'
#: Excel's first line naming the delimiter (``sep=;``): Excel does not show it as a row.
_SEP = re.compile(r"\s*sep=(.)\s*", re.IGNORECASE)
Record = tuple[int, list[str]]


@contextmanager
def open_csv(path: Path, *, encoding: str | None = None, header: HeaderRule) -> Iterator[Table]:
    """Open a delimited text file, read its header and stream its rows; close it on exit."""
    chosen, zero_width, notices = _choose_encoding(path, encoding)
    # str.strip() strips exactly the whitespace of BLANK, fast; the rest only if the file has it
    strip: Callable[[str], str] = _strip_blank if zero_width else str.strip
    csv.field_size_limit(FIELD_LIMIT)
    with path.open(encoding=chosen, errors="strict", newline="") as text:
        sep, head, texts = _read_head(text, header.row)
        delimiter = sep or _choose_delimiter(texts, header, tab=path.suffix.lower() == ".tsv")
        reader = csv.reader(chain(head, text), delimiter=delimiter, strict=True)
        records = _Records(path, reader, chosen)
        number, cells, ahead, found = find_header(path.name, iter(records), _head_cells, header)
        names, header_notices, duplicates = make_header(
            path, cells, number, lambda n: f"column {n}"
        )
        yield Table(
            path=path,
            kind="csv",
            header=names,
            header_row=number,
            encoding=chosen,
            delimiter=delimiter,
            sheet=None,
            notices=(*notices, *header_notices, *found),
            rows=_rows(records, ahead, len(names), strip, header.absent),
            duplicates=duplicates,
        )


def _head_cells(record: list[str]) -> list[str]:
    """A record's cells as a header candidate: stripped; blank if only quotes and delimiters
    (as ``_read_head`` sees it)."""
    cells = [cell.strip(BLANK) for cell in record]
    return cells if any(cell.strip(_HEAD_BLANK) for cell in cells) else []


class _Records:
    """The records of a CSV reader, numbered from 1 (``iter``: the top of the file, for the
    header search). ``number`` is the last record read and ``line`` the line it ends on, so
    that :func:`_rows` reads on from there and a record that cannot be parsed is named by its
    row and the line it starts on (an InputError)."""

    def __init__(self, path: Path, reader: Reader, encoding: str) -> None:
        self.path, self.reader, self.encoding = path, reader, encoding
        self.number = self.line = 0

    def __iter__(self) -> Iterator[Record]:
        reader = self.reader
        try:
            for record in reader:
                self.number += 1
                self.line = reader.line_num
                yield self.number, record
        except (csv.Error, UnicodeDecodeError) as error:
            raise self.error(error) from None

    def error(self, error: csv.Error | UnicodeDecodeError) -> InputError:
        """The InputError for the record after the last one read."""
        return read_error(self.path, error, self.number + 1, self.line + 1, self.encoding)


def _rows(
    records: _Records,
    ahead: list[Record],
    width: int,
    strip: Callable[[str], str],
    headless: bool = False,
) -> Iterator[SourceRow]:
    """Shape each record after the header (``ahead``: those already read, then the rest of
    ``records``) to the header's width (without a header: the widest of the first rows');
    skip blank ones. One loop over the csv reader: this is every row's path."""
    whole = f"the first rows have {width} columns" if headless else f"the header has {width}"
    for number, record in ahead:
        cells = tuple(map(strip, record))
        if len(cells) == width:
            if any(cells):
                yield SourceRow(number, cells)
        elif any(cells):
            yield _reshape(number, cells, width, whole)
    reader = records.reader
    number, line = records.number, records.line
    try:
        for record in reader:
            number += 1
            cells = tuple(map(strip, record))
            if len(cells) == width:  # the fast path
                if any(cells):
                    yield SourceRow(number, cells)
            elif any(cells):
                yield _reshape(number, cells, width, whole)
            line = reader.line_num
    except (csv.Error, UnicodeDecodeError) as error:
        records.number, records.line = number, line
        raise records.error(error) from None


def _strip_blank(cell: str) -> str:
    return cell.strip(BLANK)


def _reshape(number: int, cells: tuple[str, ...], width: int, whole: str) -> SourceRow:
    """A row whose width differs from the header's: pad or cut it, with an issue if needed
    (``whole`` says what it is measured against)."""
    count = len(cells)
    if count < width:
        had = "1 cell" if count == 1 else f"{count} cells"
        issue = Issue("short_row", f"the row has {had} but {whole}")
        padded = cells + ("",) * (width - count)
        return SourceRow(number, padded, (issue,), _NO_NUMERIC, present=count)
    extra = next((cell for cell in cells[width:] if cell), None)
    if extra is None:  # only empty cells past the header: trailing delimiters
        return SourceRow(number, cells[:width], (), _NO_NUMERIC)
    issue = Issue(
        "long_row",
        f"the row has {count} cells but {whole}; the cells after column "
        f"{width} are ignored (the first is {quote(extra)}); a value that contains the "
        "delimiter must be in quotes",
    )
    return SourceRow(number, cells[:width], (issue,), _NO_NUMERIC)


def read_error(
    path: Path, error: csv.Error | UnicodeDecodeError, row: int, line: int, encoding: str
) -> InputError:
    """The InputError for a record that cannot be parsed (``row`` starts on ``line``)."""
    where = f"{path.name}, row {row} (line {line})"
    if isinstance(error, UnicodeDecodeError):  # the scan passed: the file changed since
        return InputError(
            f"{where}: the text cannot be read as {encoding} ({error.reason}). "
            "Was the file changed while it was being read?"
        )
    message = str(error)
    if message.startswith("unexpected end of data"):
        return InputError(
            f'{where}: a quoted cell is never closed: a quote (") opens a cell that runs to '
            'the end of the file. Close the quote, or write a quote inside a cell as "".'
        )
    if message.startswith("field larger than field limit"):
        return InputError(
            f"{where}: a cell is longer than {FIELD_LIMIT // (1024 * 1024)} MiB. Most likely a "
            'quote (") on this line opens a cell that is never closed. Close the quote, or '
            'write a quote inside a cell as "".'
        )
    if "expected after" in message:
        return InputError(
            f"{where}: a quoted cell is followed by more text before the next delimiter. "
            'Inside a quoted cell write a quote as two quotes (""), or do not start the cell '
            "with a quote."
        )
    return InputError(f"{where}: the line cannot be read as CSV ({message}).")


def _choose_encoding(path: Path, given: str | None) -> tuple[str, bool, tuple[str, ...]]:
    """Scan the file; return the encoding to read it with, whether its text has a zero-width
    character (U+FEFF, U+200B) past the byte-order mark, and the notices about it."""
    with path.open("rb") as raw:
        head = raw.read(CHUNK)
        bom = next((name for mark, name in _BOMS if head.startswith(mark)), None)
        if given is not None:
            encoding = _known_encoding(path, given)
            if encoding == "utf-8" and bom == "utf-8-sig":
                encoding = bom
        else:
            encoding = bom or "utf-8"
        _refuse_binary(path, head, encoding)
        raw.seek(0)
        bad_line, zero_width = _scan(path, raw, encoding)
        if bad_line is None:
            return encoding, zero_width, ()
        if given is not None or bom is not None:
            raise InputError(
                f"{path.name}, line {bad_line}: the text cannot be read as {encoding}. "
                "Give the file's real encoding, or save it as CSV UTF-8."
            )
        raw.seek(0)
        if _scan(path, raw, "cp1252")[0] is not None:
            raise InputError(
                f"{path.name}, line {bad_line}: the file is neither UTF-8 nor Windows-1252 "
                "text. Give its encoding, or save it as CSV UTF-8."
            )
    notice = (
        f"{path.name} is not UTF-8 (first on line {bad_line}): it was read as Windows-1252, "
        "the usual encoding of Excel on Windows. If some letters look wrong, save the file "
        "as CSV UTF-8 and import it again."
    )
    return "cp1252", False, (notice,)


def _known_encoding(path: Path, name: str) -> str:
    try:
        io.TextIOWrapper(io.BytesIO(), encoding=name)  # LookupError for base64, rot13, ...
        return codecs.lookup(name).name
    except LookupError:
        raise InputError(
            f"{path.name}: {name!r} is not an encoding Python knows. "
            "Common ones are utf-8, cp1252 (Windows), latin-1 and utf-16."
        ) from None


def _refuse_binary(path: Path, head: bytes, encoding: str) -> None:
    """Stop at a file that is not text at all: a zip (xlsx), an .xls, a PDF, NUL bytes."""
    for magic, what, todo in _MAGIC:
        if head.startswith(magic):
            raise InputError(f"{path.name} is not a text file: it looks like {what}. {todo}")
    nul = head.find(b"\0")
    if nul >= 0 and not codecs.lookup(encoding).name.startswith(_WIDE):
        line = head.count(b"\n", 0, nul) + 1
        raise InputError(
            f"{path.name}, line {line}: the file contains NUL bytes, so it looks like a binary "
            "file rather than text. Export the data as CSV; if it is UTF-16 text without a "
            "byte-order mark, give the encoding (utf-16-le or utf-16-be)."
        )


def _scan(path: Path, raw: BinaryIO, encoding: str) -> tuple[int | None, bool]:
    """Decode the whole file in chunks. Return the line of the first byte that does not decode
    (None if all do) and whether a zero-width character occurs; raise at a NUL character."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    line = 1
    run = 0  # characters since the last line break
    zero_width = False
    while True:
        chunk = raw.read(CHUNK)
        final = not chunk
        state = decoder.getstate()
        try:
            text = decoder.decode(chunk, final)
        except UnicodeDecodeError:
            decoder.setstate(state)
            return line + _newlines_before_error(decoder, chunk), zero_width
        except UnicodeError as error:  # e.g. utf-16 asked for, but the file has no BOM
            raise InputError(
                f"{path.name}: the file cannot be read as {encoding} ({error}). Give another "
                "--encoding (utf-16-le or utf-16-be for UTF-16 without a byte-order mark), or "
                "none to let relimport detect it."
            ) from None
        nul = text.find("\0")
        if nul >= 0:
            raise InputError(
                f"{path.name}, line {line + text.count(chr(10), 0, nul)}: the line contains a "
                "NUL character, which a text file should not have. Remove it, or export the "
                "data as CSV again."
            )
        zero_width = zero_width or "\ufeff" in text or "\u200b" in text
        run = check_line_length(path, text, run, line)
        line += text.count("\n")
        if final:
            return None, zero_width


def check_line_length(path: Path, text: str, run: int, line: int) -> int:
    """The characters after ``text``'s last line break (plus ``run``, those before ``text``, if
    it has none); raise InputError for a line longer than ``LINE_LIMIT``. A chunk is far
    shorter than the limit, so only a line across chunks can exceed it."""
    last = max(text.rfind("\n"), text.rfind("\r"))
    if last >= 0:
        first = min(at for at in (text.find("\n"), text.find("\r")) if at >= 0)
        if run + first <= LINE_LIMIT:
            return len(text) - last - 1
    elif run + len(text) <= LINE_LIMIT:
        return run + len(text)
    raise InputError(
        f"{path.name}, line {line}: the line is longer than {LINE_LIMIT // (1024 * 1024)} MiB "
        "of text, far more than a row of a table, so the file is not read. Check that it is "
        "the CSV file meant, with one row per line; a cell this long is not accepted."
    )


def _newlines_before_error(decoder: codecs.IncrementalDecoder, chunk: bytes) -> int:
    """Feed ``chunk`` a byte at a time to count the lines before the byte that does not decode."""
    newlines = 0
    for index in range(len(chunk)):
        try:
            newlines += decoder.decode(chunk[index : index + 1]).count("\n")
        except UnicodeDecodeError:
            break
    return newlines


def _read_head(text: io.TextIOWrapper, header_row: int | None) -> tuple[str, list[str], list[str]]:
    """Read the lines of the first records: Excel's ``sep=X`` line (its X, or ""), the lines
    to parse again (the ``sep=`` line left out: Excel does not show it as a row) and the text
    of each record read (blank ones too: they are rows).

    Reading stops after the record of ``header_row``, else after the first record with a
    cell that is more than spaces, quotes and delimiters and :data:`LOOKAHEAD` more, and after
    ``_HEAD_LIMIT`` characters anyway. A record ends at a line break outside quotes (an even
    number of quotes so far).
    """
    lines: list[str] = []
    records: list[str] = []
    sep = ""
    start = quotes = size = filled = 0
    wanted = header_row
    first = True
    while size < _HEAD_LIMIT and (line := text.readline()):
        if first and (found := _SEP.fullmatch(line.lstrip("\ufeff"))):
            first, sep = False, found[1]
            continue
        first = False
        lines.append(line)
        size += len(line)
        quotes += line.count('"')
        if quotes % 2 == 0:
            record = "".join(lines[start:])
            records.append(record)
            start = len(lines)
            filled += bool(record.strip(_HEAD_BLANK))
            if wanted is not None and len(records) >= wanted:
                break
            if wanted is None and filled > LOOKAHEAD:
                break
    if start < len(lines):
        records.append("".join(lines[start:]))
    return sep, lines, records


def _choose_delimiter(records: list[str], rule: HeaderRule, *, tab: bool) -> str:
    """The delimiter that occurs most outside quotes in the header's text: the record of
    ``rule.row``, else the first record with a value (ties and a one-column header go to the
    file's usual one), or, when that one has no delimiter and is not the header the run
    looks for (a title line above it), the next record that has one."""
    usual = "\t" if tab else ","
    candidates = (usual, *(d for d in DELIMITERS if d != usual))
    if rule.row is not None:
        chosen = records[rule.row - 1 : rule.row]
    else:
        chosen = [record for record in records if record.strip(_HEAD_BLANK)]
        if chosen and (rule.fits is None or rule.absent or rule.fits([chosen[0].strip(BLANK)])):
            chosen = chosen[:1]
    for record in chosen:
        outside = "".join(record.split('"')[::2])
        best = max(candidates, key=outside.count)
        if outside.count(best):
            return best
    return usual
