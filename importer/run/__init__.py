"""The durable frame of a run (journal, locks, interrupts, the sender) and the two runs that
use it: an import (``run_import``; one row's path is :mod:`importer.run._import`, top to
bottom) and an undo (``run_undo``).
"""

from importer.run._dispatch import INTENT_GROUP, dispatch
from importer.run._drift import Repair, repair
from importer.run._frame import DurableRun
from importer.run._import import Import, import_file, run_import
from importer.run._interrupts import Interrupts
from importer.run._journal import OUTCOME_GROUP, Identity, Journal, file_digest, is_final, peek
from importer.run._locks import RunLock, location_lock_path
from importer.run._mirror import Mirror, plan_deletions
from importer.run._sender import Job, Sender
from importer.run._steps import Book, Steps, Survey
from importer.run._undo import run_undo

__all__ = [
    "INTENT_GROUP",
    "OUTCOME_GROUP",
    "Book",
    "DurableRun",
    "Identity",
    "Import",
    "Interrupts",
    "Job",
    "Journal",
    "Mirror",
    "Repair",
    "RunLock",
    "Sender",
    "Steps",
    "Survey",
    "dispatch",
    "file_digest",
    "import_file",
    "is_final",
    "location_lock_path",
    "peek",
    "plan_deletions",
    "repair",
    "run_import",
    "run_undo",
]
