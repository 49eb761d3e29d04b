"""Regenerate samples/: the ids match the sandbox's seed data (importer/sandbox/seed.py).

Run with `.venv/bin/python scripts/make_samples.py`; tests check the committed files against it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl

from importer.sandbox.seed import (
    DEMO_LOCATION,
    OTHER_LOCATION,
    STUDENT_NAMES,
    student_id,
    teacher_id,
)

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
HEADER = ["Student ID", "Teacher ID", "Student name", "Note"]
SEEDED = {(1, 1), (2, 1)}
PAIRS = [
    (1, 1),
    (2, 1),
    (1, 2),
    (2, 3),
    (3, 1),
    (3, 4),
    (4, 2),
    (4, 5),
    (5, 3),
    (5, 6),
    (6, 7),
    (6, 8),
    (7, 1),
    (7, 2),
    (8, 3),
    (8, 4),
    (9, 5),
    (10, 6),
    (11, 7),
    (12, 8),
]


student, teacher = student_id, teacher_id


def clean_rows() -> list[list[str]]:
    return [HEADER] + [
        [
            student(s),
            teacher(t),
            STUDENT_NAMES[s - 1],
            "already linked in the sandbox" if (s, t) in SEEDED else "",
        ]
        for s, t in PAIRS
    ]


def problem_rows() -> list[list[str]]:
    return [
        HEADER,
        [student(3), teacher(2), "Chloe Martin", "created"],
        [student(1), teacher(1), "Ana Ruiz", "already_exists: linked in the sandbox's seed data"],
        [student(3), teacher(2), "Chloe Martin", "duplicate_row: same pair as row 2"],
        ["", teacher(3), "", "invalid: blank student id"],
        [student(4), "cTeacher 00000000003", "Diego Lopez", "invalid: a space inside the id"],
        [teacher(4), teacher(4), "", "invalid: the same record on both sides"],
        [student(5), "", "Emma Schmidt", "invalid: blank teacher id"],
        ["67a349a79b28947ec1f69999", teacher(5), "Nobody", "failed: no such student"],
        [teacher(6), student(6), "Farid Haddad", "failed: columns swapped (warned about)"],
        [student(7)],  # short: its teacher id cell is missing (invalid: short_row)
        [student(8), teacher(8), "Hugo Silva", '=HYPERLINK("http://example.invalid")'],
    ]


def key_rows() -> list[list[str]]:
    """Natural keys instead of ids: students by e-mail, teachers by phone, in many writings."""
    return [
        ["Student email", "Teacher phone", "Note"],
        ["ana.ruiz@example.edu", "+1 555 010 0001", "already_exists: linked in the seed data"],
        ["Ben.Okafor@example.edu", "(555) 010-0002", "created"],
        ["chloe.martin@example.edu", "555.010.0003", "created"],
        ["diego.lopez@example.edu", "+15550100004", "created"],
        ["BEN.OKAFOR@EXAMPLE.EDU", "555-010-0002", "duplicate_row: same people as row 3"],
        ["nobody@example.edu", "+1 555 010 0005", "unresolved: no such student"],
        ["emma.schmidt@example.edu", "+1 555 010 9999", "unresolved: no such teacher"],
        ["farid.haddad@example.edu", "010-00", "invalid: not a phone number"],
    ]


def deal_rows() -> list[list[str]]:
    """Deals linked to contacts in both demo locations (the system association): for split."""
    return [
        ["Location", "Opportunity", "Contact"],
        [DEMO_LOCATION, "oppDemo0000000000001", teacher_id(1)],
        [OTHER_LOCATION, "oppOther000000000001", "cOtherLoc00000000001"],
        [DEMO_LOCATION, "oppDemo0000000000002", teacher_id(2)],
        [OTHER_LOCATION, "oppOther000000000001", "cOtherLoc00000000002"],
        [DEMO_LOCATION, "oppDemo0000000000003", teacher_id(3)],
    ]


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows(rows)


def write_xlsx(path: Path, rows: list[list[str]]) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Relations"
    for row in rows:
        sheet.append(row)
    book.save(path)


if __name__ == "__main__":
    write_csv(SAMPLES / "relations.csv", clean_rows())
    write_xlsx(SAMPLES / "relations.xlsx", clean_rows())
    write_csv(SAMPLES / "relations-with-problems.csv", problem_rows())
    write_csv(SAMPLES / "students-by-email.csv", key_rows())
    write_csv(SAMPLES / "deals-two-locations.csv", deal_rows())
