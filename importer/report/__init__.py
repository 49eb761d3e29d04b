"""What a run writes for people and schedulers: the result CSV (every input row once),
the Excel workbook (``report.xlsx``, imported only when asked for: openpyxl is slow to load),
summary.json, plan.json.
"""

from importer.report._beside import finish_run, write_beside
from importer.report._csv import (
    RESULT_COLUMNS,
    ResultWriter,
    check_writable,
    neutralise,
    redo_rows,
    result_columns,
    result_header,
    result_name,
    unwritten_message,
    write_json,
)
from importer.report._plan import CACHED, PURPOSES, LocationPlan, Plan
from importer.report._summary import (
    FOR_ONLY,
    FOR_UNDO,
    REMEMBERED,
    Hooks,
    RunSummary,
    plan_path,
    remembered_settings,
    summary_path,
    workbook_path,
)

__all__ = [
    "CACHED",
    "FOR_ONLY",
    "FOR_UNDO",
    "PURPOSES",
    "REMEMBERED",
    "RESULT_COLUMNS",
    "Hooks",
    "LocationPlan",
    "Plan",
    "ResultWriter",
    "RunSummary",
    "check_writable",
    "finish_run",
    "neutralise",
    "plan_path",
    "redo_rows",
    "remembered_settings",
    "result_columns",
    "result_header",
    "result_name",
    "summary_path",
    "unwritten_message",
    "workbook_path",
    "write_beside",
    "write_json",
]
