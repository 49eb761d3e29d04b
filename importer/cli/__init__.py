"""The ``relimport`` command: parse, call the library, draw progress, print, exit."""

from importer.cli._flags import hoist_global_options
from importer.cli._main import format_summary, main

__all__ = [
    "format_summary",
    "hoist_global_options",
    "main",
]
