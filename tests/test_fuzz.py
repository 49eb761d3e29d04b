"""Property-based tests (hypothesis) of the reader, the validator and the result writer.

Hostile input must end in a clear :class:`InputError` naming the file or in per-row issues,
never in a traceback; what relimport writes out must read back equal. Files are written in a
temporary folder made inside each example (no function-scoped fixture under ``@given``).
"""

from __future__ import annotations

import codecs
import csv
import io
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openpyxl
from hypothesis import Phase, assume, example, given, settings
from hypothesis import strategies as st

from importer.errors import InputError
from importer.models import Issue, Outcome, SourceRow, Status
from importer.read import BLANK, open_table
from importer.read.delimited import DELIMITERS
from importer.report import RESULT_COLUMNS, ResultWriter, neutralise, redo_rows, result_header
from tests.conftest import demo_settings
from tests.helpers import judge_for

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
#: What a blank record before the header may hold (reader_csv._HEAD_BLANK).
HEAD_BLANK = BLANK + '",;|'
NO_SURROGATES = st.characters(exclude_categories=["Cs"])


@contextmanager
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def read_table(path: Path) -> tuple[tuple[str, ...], int, list[SourceRow]]:
    """The header, its row number and every row, consumed inside the ``with`` block."""
    with open_table(path) as table:
        return table.header, table.header_row, list(table.rows)


def assert_read_or_refused(path: Path) -> None:
    """Reading ``path`` either gives well-formed rows or an InputError naming the file."""
    try:
        header, header_row, rows = read_table(path)
    except InputError as error:
        assert path.name in str(error), str(error)
        return
    assert header
    assert all(isinstance(name, str) and name == name.strip(BLANK) and name for name in header)
    assert len(set(header)) == len(header)
    numbers = [header_row, *(row.number for row in rows)]
    assert numbers == sorted(set(numbers)), "row numbers are not strictly increasing"
    for row in rows:
        assert len(row.cells) == len(header)
        assert all(isinstance(cell, str) and cell == cell.strip(BLANK) for cell in row.cells)
        assert any(row.cells) or row.issues


# -- 1. the CSV reader on arbitrary bytes ------------------------------------------------------

BOMS = (
    b"",
    codecs.BOM_UTF8,
    codecs.BOM_UTF16_LE,
    codecs.BOM_UTF16_BE,
    codecs.BOM_UTF32_LE,
    codecs.BOM_UTF32_BE,
)
#: Encodings that text pieces are written in (the BOM, if any, is drawn separately).
PIECE_ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "cp1252")
TRICKY_BYTES = (
    b",",
    b";",
    b"\t",
    b"|",
    b'"',
    b'""',
    b"\r",
    b"\n",
    b"\r\n",
    b"\0",
    b" ",
    b"\xa0",  # cp1252 no-break space, invalid UTF-8 alone
    b"\xc2\xa0",
    b"\xe2\x80\x8b",  # zero-width space
    b"\xef\xbb\xbf",  # a BOM in the middle
    b"\x81",  # undefined in cp1252
    b"\xed\xa0\x80",  # an encoded surrogate
    b"\xff\xfe",
    b"id",
    b"PK\x03\x04",
)


@st.composite
def hostile_bytes(draw: st.DrawFn) -> bytes:
    encoding = draw(st.sampled_from(PIECE_ENCODINGS))
    text = st.text(NO_SURROGATES | st.sampled_from(',;\t|"\r\n \u00a0\ufeff'), max_size=12)
    piece = st.one_of(
        st.sampled_from(TRICKY_BYTES),
        st.binary(max_size=16),
        text.map(lambda t: t.encode(encoding, errors="replace")),
    )
    return draw(st.sampled_from(BOMS)) + b"".join(draw(st.lists(piece, max_size=30)))


@settings(max_examples=300, deadline=None)
@given(data=hostile_bytes(), suffix=st.sampled_from(CSV_SUFFIXES))
@example(data=b"", suffix=".csv")
@example(data=codecs.BOM_UTF8, suffix=".csv")
@example(data=codecs.BOM_UTF16_LE, suffix=".tsv")
@example(data=b"a,b\r\n", suffix=".csv")
@example(data=b'"a"b,c\n1,2', suffix=".csv")
@example(data=b'a,b\n"1,2\n', suffix=".txt")
@example(data=b"a\rb\r\nc\n\r1", suffix=".csv")
@example(data=b"a,b\n1\x002", suffix=".csv")
@example(data=b"\xff\xfea\x00,\x00b\x00\n\x00\x00\xd8", suffix=".csv")
@example(data=b',;|\t\n""\n  \n', suffix=".csv")
@example(data=b"a;b\n\x81", suffix=".csv")
def test_random_bytes_are_read_or_refused_with_the_file_name(data: bytes, suffix: str) -> None:
    with folder() as tmp:
        path = tmp / f"hostile{suffix}"
        path.write_bytes(data)
        assert_read_or_refused(path)


@st.composite
def big_tables(draw: st.DrawFn) -> tuple[bytes, int, list[str]]:
    """A well-formed but big file: up to 3,000 columns, cells up to 100 KB, mixed line
    endings. Returns the bytes, the header's width and each data row's first cell."""
    delimiter = draw(st.sampled_from(DELIMITERS))
    width = draw(st.integers(2, 20) | st.integers(2900, 3000))
    endings = st.sampled_from(["\r\n", "\n", "\r"])
    lines = [delimiter.join(f"c{n}" for n in range(width)) + draw(endings)]
    firsts: list[str] = []
    for length in draw(st.lists(st.integers(1, 100) | st.integers(90_000, 100_000), max_size=3)):
        first = written = "x" * length
        if draw(st.booleans()):  # quoted, with a quote, the delimiter and line breaks inside
            # (between x's: the reader strips a cell's surrounding blanks, line breaks too)
            first = f'x"{delimiter}\r\n\n\r{first}'
            written = '"' + first.replace('"', '""') + '"'
        firsts.append(first)
        lines.append(delimiter.join([written, *("y" * (width - 1))]) + draw(endings))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
    return "".join(lines).encode(encoding), width, firsts


@settings(max_examples=12, deadline=None)
@given(big=big_tables(), suffix=st.sampled_from(CSV_SUFFIXES))
def test_wide_files_and_long_cells_are_read_whole(
    big: tuple[bytes, int, list[str]], suffix: str
) -> None:
    data, width, firsts = big
    with folder() as tmp:
        path = tmp / f"big{suffix}"
        path.write_bytes(data)
        assert_read_or_refused(path)
        header, _, rows = read_table(path)
    assert len(header) == width
    assert [row.cells[0] for row in rows] == firsts
    assert all(not row.issues and row.cells[1:] == ("y",) * (width - 1) for row in rows)


# -- 2. what csv.writer wrote reads back equal -------------------------------------------------

#: The usual delimiter of each suffix: a one-column file has no delimiter to see.
USUAL = {".csv": ",", ".tsv": "\t", ".txt": ","}


@st.composite
def round_trips(draw: st.DrawFn) -> tuple[str, str, str, list[str], list[list[str]]]:
    """A suffix, an encoding, a delimiter, a header and rows of stripped text."""
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    characters = (st.characters(codec="cp1252") if encoding == "cp1252" else NO_SURROGATES).filter(
        lambda c: c != "\0"
    )
    tricky = st.sampled_from(',;\t|"\r\n \u00a0' + ("" if encoding == "cp1252" else "\u200b"))
    cell = st.text(characters | tricky, max_size=10).map(lambda t: t.strip(BLANK))
    # Delimiters outside quotes in the header would make the choice of delimiter a guess.
    title = cell.filter(lambda t: bool(t) and not any(d in t for d in DELIMITERS))
    header = draw(st.lists(title, min_size=1, max_size=6, unique=True))
    assume(any(name.strip(HEAD_BLANK) for name in header))
    rows = draw(st.lists(st.lists(cell, min_size=len(header), max_size=len(header)), max_size=8))
    suffix = draw(st.sampled_from(CSV_SUFFIXES))
    delimiter = draw(st.sampled_from(DELIMITERS)) if len(header) > 1 else USUAL[suffix]
    return suffix, encoding, delimiter, header, rows


@settings(max_examples=200, deadline=None)
@given(written=round_trips())
def test_what_csv_writer_wrote_in_any_encoding_reads_back_equal(
    written: tuple[str, str, str, list[str], list[list[str]]],
) -> None:
    suffix, encoding, delimiter, header, rows = written
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter).writerows([header, *rows])
    data = buffer.getvalue().encode(encoding)
    if encoding == "cp1252" and not data.isascii():
        try:  # cp1252 bytes that are also valid UTF-8 are read as UTF-8: there is no telling
            data.decode("utf-8")
            assume(False)
        except UnicodeDecodeError:
            pass
    with folder() as tmp:
        path = tmp / f"written{suffix}"
        path.write_bytes(data)
        got_header, header_row, got = read_table(path)
    assert (got_header, header_row) == (tuple(header), 1)
    expected = [(number, tuple(cells)) for number, cells in enumerate(rows, 2) if any(cells)]
    assert [(row.number, row.cells) for row in got] == expected
    assert all(not row.issues for row in got)


# -- 3. the validator --------------------------------------------------------------------------

STUDENTS = ("67a349a79b28947ec1f60001", "67a349a79b28947ec1f60002")
TEACHERS = ("cTeacher000000000001", "cTeacher000000000002")
ids = st.one_of(
    st.sampled_from((*STUDENTS, *TEACHERS, "")),
    st.text("0123456789abcdef", min_size=24, max_size=24),
    st.text(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=20, max_size=20
    ),
    st.text(NO_SURROGATES, max_size=30),
    st.sampled_from((" x", "a b", "a\x00", "a\x7f", "\u00a0", "1.23E+19")),
)
column_names = st.text(NO_SURROGATES, min_size=1, max_size=12)


@st.composite
def source_rows(draw: st.DrawFn) -> tuple[int, int, list[SourceRow]]:
    """The two id columns' positions and rows numbered upwards (pairs often repeat)."""
    width = draw(st.integers(2, 5))
    first, second = draw(st.permutations(range(width)))[:2]
    rows = []
    number = 1
    for _ in range(draw(st.integers(0, 12))):
        number += draw(st.integers(1, 3))
        cells = draw(st.lists(ids, min_size=width, max_size=width))
        numeric = draw(st.frozensets(st.integers(0, width - 1), max_size=2))
        present = draw(st.one_of(st.none(), st.integers(0, width - 1)))
        issues: tuple[Issue, ...] = ()
        if present is not None:  # a short row, padded with empty cells as the reader does
            cells = cells[:present] + [""] * (width - present)
            issues = (Issue("short_row", f"the row has {present} cells"),)
        rows.append(SourceRow(number, tuple(cells), issues, numeric, present=present))
    return first, second, rows


@settings(max_examples=300, deadline=None)
@given(
    shape=source_rows(),
    names=st.lists(column_names, min_size=2, max_size=2, unique=True),
    strict=st.booleans(),
)
def test_the_row_judge_gives_one_verdict_per_row_and_finds_duplicates(
    shape: tuple[int, int, list[SourceRow]], names: list[str], strict: bool
) -> None:
    first, second, rows = shape
    header = [""] * (1 + max(first, second))  # no column name is empty
    header[first], header[second] = names
    settings = demo_settings(
        Path(), first_column=names[0], second_column=names[1], strict_ids=strict
    )
    judge = judge_for(settings, tuple(header))
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        verdict = judge(row)
        assert (verdict.pair is None) != (verdict.outcome is None)
        pair = (row.cells[first], row.cells[second])
        if verdict.pair is not None:
            assert (verdict.pair.first_id, verdict.pair.second_id) == pair
            assert pair not in seen
            assert row.present is None or max(first, second) < row.present  # a warning
            assert all(pair) and pair[0] != pair[1]
            assert not {first, second} & row.numeric
            seen[pair] = row.number
            continue
        outcome = verdict.outcome
        assert outcome is not None
        if outcome.status is Status.DUPLICATE_ROW:
            earlier = seen[pair]
            assert outcome.error_code == "duplicate_row"
            assert outcome.error == f"same pair as row {earlier}; only row {earlier} is sent"
            continue
        assert outcome.status is Status.INVALID
        assert outcome.error_code and outcome.error
        if row.present is not None and max(first, second) >= row.present:
            assert outcome.error_code == "short_row" and "missing" in outcome.error
        elif outcome.error_code.startswith("first_"):
            assert f"column '{names[0]}'" in outcome.error
        elif outcome.error_code.startswith("second_"):
            assert f"column '{names[1]}'" in outcome.error
        else:
            assert outcome.error_code == "same_record"
            assert pair[0] == pair[1] and pair[0] in outcome.error
        for warning in verdict.warnings:
            if warning.code != "short_row":
                assert warning.column in names and f"column '{warning.column}'" in warning.message


# -- 4. the result writer, and its file given back with --only ---------------------------------

#: An input header and its rows, each with its outcome.
Written = tuple[list[str], list[tuple[SourceRow, Outcome]]]

outcomes = st.builds(
    Outcome,
    status=st.sampled_from(Status),
    relation_id=st.text(NO_SURROGATES, max_size=8),
    error_code=st.text(NO_SURROGATES, max_size=8),
    error=st.text(NO_SURROGATES, max_size=20),
    http_status=st.none() | st.integers(100, 599),
    attempts=st.integers(0, 20),
)
#: Names that relimport's own columns take, or take when the input has them already.
TAKEN = (*RESULT_COLUMNS, *(f"result_{name}" for name in RESULT_COLUMNS))


def written_results(
    cell: st.SearchStrategy[str], title: st.SearchStrategy[str]
) -> st.SearchStrategy[Written]:
    @st.composite
    def build(draw: st.DrawFn) -> Written:
        header = draw(st.lists(title | st.sampled_from(TAKEN), min_size=1, max_size=5, unique=True))
        rows = []
        number = 1
        for _ in range(draw(st.integers(0, 8))):
            number += draw(st.integers(1, 3))
            cells = draw(st.lists(cell, min_size=len(header), max_size=len(header)))
            rows.append((SourceRow(number, tuple(cells)), draw(outcomes)))
        return header, rows

    return build()


def write_results(path: Path, header: list[str], rows: list[tuple[SourceRow, Outcome]]) -> None:
    with ResultWriter(path, tuple(header)) as writer:
        for seq, (row, outcome) in enumerate(rows):
            writer.add(seq, row, outcome)


def result_cells(row: SourceRow, outcome: Outcome) -> list[str]:
    """The row's cells, then its result columns; the API's words may hold a NUL: dropped, so
    the file stays readable as CSV."""
    said = (outcome.relation_id, outcome.error_code, outcome.error)  # the API's words
    relation_id, code, error = (text.replace("\0", "") for text in said)
    outcome_cells = (str(row.number), outcome.status.value, relation_id)
    http = "" if outcome.http_status is None else str(outcome.http_status)
    ids = (outcome.first_id, outcome.second_id)
    return [*row.cells, *outcome_cells, *ids, code, error, http, str(outcome.attempts)]


formula_text = st.text(NO_SURROGATES | st.sampled_from("=+-@\t\r\n'\",;"), max_size=12)


@settings(max_examples=200, deadline=None)
@given(written=written_results(formula_text, formula_text))
def test_the_result_file_reads_back_as_the_neutralised_rows(
    written: Written,
) -> None:
    header, rows = written
    with folder() as tmp:
        path = tmp / "results.csv"
        write_results(path, header, rows)
        with path.open(encoding="utf-8-sig", newline="") as file:
            back = list(csv.reader(file))
        assert sorted(p.name for p in tmp.iterdir()) == ["results.csv"]
    assert back[0] == [neutralise(name) for name in result_header(tuple(header))]
    assert back[1:] == [[neutralise(c) for c in result_cells(*row)] for row in rows]


@settings(max_examples=200, deadline=None)
@given(
    written=written_results(formula_text, formula_text), ids=st.tuples(formula_text, formula_text)
)
def test_a_valid_line_is_the_line_of_its_outcome(written: Written, ids: tuple[str, str]) -> None:
    """add_valid (a dry run's plainly valid row, written in one piece) writes the bytes that
    add writes for the same row with a valid outcome, whatever the cells hold."""
    header, rows = written
    with folder() as tmp:
        files = []
        for name, valid in (("add.csv", False), ("add_valid.csv", True)):
            with ResultWriter(tmp / name, tuple(header)) as writer:
                for seq, (row, _) in enumerate(rows):
                    if valid:
                        writer.add_valid(seq, row, *ids)
                    else:
                        outcome = Outcome(Status.VALID, first_id=ids[0], second_id=ids[1])
                        writer.add(seq, row, outcome)
            files.append((tmp / name).read_bytes())
            assert writer.counts == ({Status.VALID: len(rows)} if rows else {})
    assert files[0] == files[1]


#: Cells as the reader makes them: stripped, no NUL.
reader_cell = st.text(
    NO_SURROGATES.filter(lambda c: c != "\0") | st.sampled_from("=+-@'\",;|\t\r\n"), max_size=12
).map(lambda t: t.strip(BLANK))
reader_title = reader_cell.filter(lambda t: bool(t.strip(HEAD_BLANK)))


def gives_back_the_original(
    header: list[str], rows: list[tuple[SourceRow, Outcome]], only: set[Status]
) -> None:
    """Write the results, read them with open_table and redo_rows as --only does: the header
    and the selected rows come back as they went in."""
    with folder() as tmp:
        path = tmp / "results.csv"
        write_results(path, header, rows)
        with open_table(path) as table:
            got_header, selected = redo_rows(table.header, table.rows, frozenset(only), path)
            got = [(row.number, row.cells) for row in selected]
    assert got_header == tuple(header)
    expected = [(row.number, row.cells) for row, outcome in rows if outcome.status in only]
    assert got == expected


@settings(max_examples=200, deadline=None)
@given(
    written=written_results(reader_cell, reader_title),
    only=st.sets(st.sampled_from(Status)),
)
def test_a_result_file_given_back_gives_the_original_rows(
    written: Written, only: set[Status]
) -> None:
    gives_back_the_original(*written, only)


# -- 5. XLSX: text, whole and decimal numbers --------------------------------------------------

#: Characters openpyxl can write as they are: no control characters (it refuses most, and
#: XML turns a bare "\r" into "\n"); a text starting with "=" would be written as a formula.
xlsx_text = st.text(
    st.characters(exclude_categories=("Cs", "Cc")) | st.sampled_from(" \t\n\u00a0"), max_size=12
).filter(lambda t: not t.startswith("="))
xlsx_value = st.one_of(
    xlsx_text,
    st.integers(-(10**15), 10**15),
    # Excel keeps 15 significant digits (and openpyxl writes 16): the cell holds what it keeps.
    st.floats(-1e300, 1e300).map(lambda v: float(f"{v:.15g}")),
)


def expected_text(value: str | int | float) -> str:
    if isinstance(value, str):
        return value.strip(BLANK)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


@st.composite
def sheets(draw: st.DrawFn) -> tuple[list[str], list[list[str | int | float]]]:
    # stripped, a title may begin with "=" (" =0"): openpyxl would write it as a formula
    title = xlsx_text.map(lambda t: t.strip(BLANK)).filter(lambda t: t and t[0] != "=")
    header = draw(st.lists(title, min_size=1, max_size=5, unique=True))
    rows = draw(
        st.lists(st.lists(xlsx_value, min_size=len(header), max_size=len(header)), max_size=6)
    )
    return header, rows


@settings(max_examples=40, deadline=None)
@given(sheet=sheets())
def test_xlsx_cells_read_back_as_text_with_numbers_marked(
    sheet: tuple[list[str], list[list[str | int | float]]],
) -> None:
    header, rows = sheet
    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    assert worksheet is not None
    table: list[list[str | int | float]] = [list(header), *rows]
    for values in table:
        worksheet.append(values)
    with folder() as tmp:
        path = tmp / "sheet.xlsx"
        workbook.save(path)
        got_header, header_row, got = read_table(path)
    assert (got_header, header_row) == (tuple(header), 1)
    expected = []
    for number, values in enumerate(rows, 2):
        cells = tuple(expected_text(value) for value in values)
        numeric = frozenset(i for i, value in enumerate(values) if not isinstance(value, str))
        if any(cells):
            expected.append((number, cells, numeric))
    assert [(row.number, row.cells, row.numeric) for row in got] == expected
    assert all(not row.issues for row in got)


# -- 6. damaged workbooks: read or refused, never a traceback ----------------------------------


def small_workbook() -> bytes:
    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    assert worksheet is not None
    rows: list[list[str | int | float]] = [["Student ID", "Teacher ID"], [*STUDENTS], [1, 2.5]]
    for values in rows:
        worksheet.append(values)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


WORKBOOK = small_workbook()


XML_PIECES = (b"<", b">", b"/>", b'"', b"=", b" r=", b'"A1"', b'"XFD1048576"', b't="s"', b"<v>")


@st.composite
def damaged_workbooks(draw: st.DrawFn) -> bytes:
    """A small workbook with bytes changed: in the zip itself, or in one XML part inside it."""
    if draw(st.booleans()):
        data = bytearray(WORKBOOK)
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(data) - 1))
            data[at : at + 1] = draw(st.binary(max_size=4))
        return bytes(data[: draw(st.integers(1, len(data)))])
    with zipfile.ZipFile(io.BytesIO(WORKBOOK)) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    name = draw(st.sampled_from(sorted(parts)))
    part = bytearray(parts[name])
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(part)))
        cut = draw(st.integers(0, 8))
        part[at : at + cut] = draw(st.sampled_from(XML_PIECES) | st.binary(max_size=6))
    parts[name] = bytes(part)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for each, content in parts.items():
            target.writestr(each, content)
    return buffer.getvalue()


@settings(max_examples=150, deadline=None)
@given(data=damaged_workbooks())
def test_a_damaged_workbook_is_read_or_refused_with_the_file_name(data: bytes) -> None:
    with folder() as tmp:
        path = tmp / "damaged.xlsx"
        path.write_bytes(data)
        assert_read_or_refused(path)


# -- bugs found by the properties above, kept as their failing examples ------------------------

given_back = {
    "written": written_results(reader_cell, reader_title),
    "only": st.sets(st.sampled_from(Status)),
}


@settings(phases=[Phase.explicit], deadline=None)
@given(**given_back)
@example(written=(["id"], [(SourceRow(2, ("'=",)), Outcome(Status.FAILED))]), only={Status.FAILED})
def test_an_apostrophe_before_a_formula_character_survives(
    written: Written, only: set[Status]
) -> None:
    gives_back_the_original(*written, only)


@settings(phases=[Phase.explicit], deadline=None)
@given(**given_back)
@example(written=(["status", "result_status"], []), only=set())
def test_result_columns_never_take_the_name_of_an_input_column(
    written: Written, only: set[Status]
) -> None:
    gives_back_the_original(*written, only)


@settings(phases=[Phase.explicit], deadline=None)
@given(**given_back)
@example(written=(["="], []), only=set())
def test_a_formula_title_comes_back_as_written(written: Written, only: set[Status]) -> None:
    gives_back_the_original(*written, only)


@settings(phases=[Phase.explicit], deadline=None)
@given(**given_back)
@example(written=(["id"], [(SourceRow(2, ("a",)), Outcome(Status.FAILED, error="\0"))]), only=set())
def test_a_nul_in_an_api_message_leaves_the_result_file_readable(
    written: Written, only: set[Status]
) -> None:
    gives_back_the_original(*written, only)
