"""What a row means before anything is sent: row checks, each row's scope (location,
association), natural keys resolved by look-ups, record checks and the evidence of swapped
columns.
"""

from importer.validate._check import Checks, Judgement, ScopeKey, id_shape, with_ids
from importer.validate._lookup import CACHE_NAME, AnswerCache, Lookups, Question, pool
from importer.validate._multi_ids import split_ids
from importer.validate._properties import PropertyVerdict, check_properties, examine_properties
from importer.validate._rows import (
    SHAPES,
    RowValidator,
    column_index,
    find_column,
    is_email,
    is_phone,
    shape_of,
)
from importer.validate._seen import SeenPairs

__all__ = [
    "CACHE_NAME",
    "SHAPES",
    "AnswerCache",
    "Checks",
    "Judgement",
    "Lookups",
    "PropertyVerdict",
    "Question",
    "RowValidator",
    "ScopeKey",
    "SeenPairs",
    "check_properties",
    "column_index",
    "examine_properties",
    "find_column",
    "id_shape",
    "is_email",
    "is_phone",
    "pool",
    "shape_of",
    "split_ids",
    "with_ids",
]
