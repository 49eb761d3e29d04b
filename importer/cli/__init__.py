"""The ``relimport`` command: parse, call the library, draw progress, print, exit."""

from importer.cli._common import raise_open_file_limit
from importer.cli._flags import hoist_global_options
from importer.cli._main import main
from importer.cli._terminal import format_summary

__all__ = [
    "format_summary",
    "hoist_global_options",
    "main",
    "raise_open_file_limit",
]
