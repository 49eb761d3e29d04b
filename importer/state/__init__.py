"""What outlives a run: the ledger of relations the API confirmed, per target and
location, in the state folder (or in memory for the built-in sandbox).
"""

from importer.state._ledger import (
    EXISTING,
    RELIMPORT,
    AssociationStatus,
    Known,
    Ledger,
    Ledgers,
    Side,
    ledger_path,
    open_ledgers,
)

__all__ = [
    "EXISTING",
    "RELIMPORT",
    "AssociationStatus",
    "Known",
    "Ledger",
    "Ledgers",
    "Side",
    "ledger_path",
    "open_ledgers",
]
