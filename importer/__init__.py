"""relimport: create relations in bulk in Leadway CRM (HighLevel API v2) from CSV and Excel.

Library first: everything the command line does is available from Python::

    from importer import load_settings, run_import
    summary = run_import(Path("samples/relations.csv"), load_settings())
    print(summary.counts, summary.result_path, summary.exit_code)
"""

import logging

from importer.api import Client, RateLimiter, RateLimits, classify, list_associations
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
from importer.models import Association, Issue, Outcome, Pair, SourceRow, Status
from importer.read import Table, open_table
from importer.report import Hooks, RunSummary
from importer.run import import_file, run_import, run_undo
from importer.setup import forget_ledger, ledger_files, verify_ledger, verify_scope
from importer.state import Ledger
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
