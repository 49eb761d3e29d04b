"""A file -> rows with the numbers the user sees: CSV and other delimited text, XLSX and
the other workbooks, and the guards against hostile files. ``open_table`` picks the reader;
the readers of workbooks (``read.xlsx``, ``read.sheets``) and of delimited text
(``read.delimited``) are public modules imported only when a file of their kind is opened
(openpyxl and pandas are slow to load).
"""

from importer.read._guard import refuse_large_ods, refuse_zip_bomb
from importer.read._header import HeaderRule, letters
from importer.read._open import open_table
from importer.read._table import BLANK, Table, pick_sheet

__all__ = [
    "BLANK",
    "HeaderRule",
    "Table",
    "letters",
    "open_table",
    "pick_sheet",
    "refuse_large_ods",
    "refuse_zip_bomb",
]
