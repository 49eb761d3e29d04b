"""Helping people start and operate: ``doctor`` (pre-flight checks), ``init`` (a
commented config.yaml guessed from the input), the ledger's ``status``/``verify``/``forget``,
and ``split``/``merge`` of a file into shards by location.
"""

from importer.setup._doctor import Finding, describe, diagnose
from importer.setup._init import (
    API_URL,
    Proposal,
    Samples,
    best,
    fetch_associations,
    fetch_schema,
    holds_ids,
    propose,
    propose_lookup,
    propose_property,
    refusal,
    render_config,
    sample_columns,
    write_config,
)
from importer.setup._ledger import (
    LedgerFile,
    forget_ledger,
    ledger_files,
    verify_ledger,
    verify_scope,
)
from importer.setup._shard import (
    SEVERITY,
    Manifest,
    Merged,
    assign,
    manifest_path,
    merge,
    read_manifest,
    split,
)

__all__ = [
    "API_URL",
    "SEVERITY",
    "Finding",
    "LedgerFile",
    "Manifest",
    "Merged",
    "Proposal",
    "Samples",
    "assign",
    "best",
    "describe",
    "diagnose",
    "fetch_associations",
    "fetch_schema",
    "forget_ledger",
    "holds_ids",
    "ledger_files",
    "manifest_path",
    "merge",
    "propose",
    "propose_lookup",
    "propose_property",
    "read_manifest",
    "refusal",
    "render_config",
    "sample_columns",
    "split",
    "verify_ledger",
    "verify_scope",
    "write_config",
]
