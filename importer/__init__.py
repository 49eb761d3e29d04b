"""relimport: create relations in bulk in Leadway CRM (HighLevel API v2) from CSV and Excel.

Library first: everything the command line does is available from Python::

    from importer import load_settings, run_import
    summary = run_import(Path("samples/relations.csv"), load_settings())
    print(summary.counts, summary.result_path, summary.exit_code)
"""

import logging

from importer.associations import list_associations
from importer.client import Client, classify
from importer.config import Settings, load_settings
from importer.errors import (
    ApiError,
    AuthError,
    BudgetExhaustedError,
    ConfigError,
    DuplicateRelationError,
    InputError,
    NothingToDo,
    RateLimitedError,
    RejectedError,
    RelimportError,
    RetryableError,
)
from importer.ledger import Ledger
from importer.ledger_admin import forget_ledger, ledger_files, verify_ledger, verify_scope
from importer.models import Association, Issue, Outcome, Pair, SourceRow, Status
from importer.pipeline import import_file, run_import
from importer.ratelimit import RateLimiter, RateLimits
from importer.reader import open_table
from importer.reader_table import Table
from importer.summary import Hooks, RunSummary
from importer.undo import run_undo
from importer.validate import RowValidator

# A library logs only where its user says (relimport --log-file): never to stderr by default.
logging.getLogger("relimport").addHandler(logging.NullHandler())

__all__ = [
    "ApiError",
    "Association",
    "AuthError",
    "BudgetExhaustedError",
    "Client",
    "ConfigError",
    "DuplicateRelationError",
    "Hooks",
    "InputError",
    "Issue",
    "Ledger",
    "NothingToDo",
    "Outcome",
    "Pair",
    "RateLimitedError",
    "RateLimiter",
    "RateLimits",
    "RejectedError",
    "RelimportError",
    "RetryableError",
    "RowValidator",
    "RunSummary",
    "Settings",
    "SourceRow",
    "Status",
    "Table",
    "classify",
    "forget_ledger",
    "import_file",
    "ledger_files",
    "list_associations",
    "load_settings",
    "open_table",
    "run_import",
    "run_undo",
    "verify_ledger",
    "verify_scope",
]
