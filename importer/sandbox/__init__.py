"""A faithful local emulator of the HighLevel (Leadway CRM) API endpoints relimport uses.

One pure core (:class:`Sandbox`), two ways in: :meth:`Sandbox.transport` (in-process httpx
transport, no socket) and :func:`serve` (real HTTP on loopback). Behaviours the real API does
not document are chosen and listed in this package's README.md.

Its names are imported on first use (as the standard library's ``concurrent.futures`` does):
``import importer.sandbox.faults`` (the ``sandbox serve`` command's options, at every start
of ``relimport``) loads that module alone, not the emulator, its server and its seed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importer.sandbox.answer import Action, Answer
    from importer.sandbox.core import VERSIONS, LocationStats, Sandbox
    from importer.sandbox.faults import FaultPlan, Limits
    from importer.sandbox.seed import (
        ALL_SCOPES,
        BUSINESSES_CONTACTS,
        DEMO_LOCATION,
        DEMO_TOKEN,
        OPPORTUNITIES_CONTACTS,
        OTHER_LOCATION,
        OTHER_TOKEN,
        READ_SCOPES,
        READONLY_TOKEN,
        STUDENT_TEACHER_ID,
        STUDENTS_KEY,
        AssociationDef,
        LocationSeed,
        ObjectDef,
        PropertyDef,
        Record,
        RelationDef,
        Seed,
        Token,
        demo_seed,
        student_id,
        teacher_id,
    )
    from importer.sandbox.server import RunningServer, serve, serve_forever
    from importer.sandbox.transport import SandboxTransport

__all__ = [
    "ALL_SCOPES",
    "BUSINESSES_CONTACTS",
    "DEMO_LOCATION",
    "DEMO_TOKEN",
    "OPPORTUNITIES_CONTACTS",
    "OTHER_LOCATION",
    "OTHER_TOKEN",
    "READONLY_TOKEN",
    "READ_SCOPES",
    "STUDENTS_KEY",
    "STUDENT_TEACHER_ID",
    "VERSIONS",
    "Action",
    "Answer",
    "AssociationDef",
    "FaultPlan",
    "Limits",
    "LocationSeed",
    "LocationStats",
    "ObjectDef",
    "PropertyDef",
    "Record",
    "RelationDef",
    "RunningServer",
    "Sandbox",
    "SandboxTransport",
    "Seed",
    "Token",
    "demo_seed",
    "serve",
    "serve_forever",
    "student_id",
    "teacher_id",
]

#: The modules the public names come from, each after those it imports names from: a name is
#: looked for in this order, so it is found where it is defined, and ``DEMO_TOKEN`` loads the
#: seed alone, not the emulator.
_MODULES = ("faults", "seed", "answer", "core", "server", "transport")


def __getattr__(name: str) -> Any:
    if name in __all__:
        for module in _MODULES:
            found = importlib.import_module(f"{__name__}.{module}")
            if hasattr(found, name):
                value = getattr(found, name)
                globals()[name] = value  # once: later uses find it as a plain global
                return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
