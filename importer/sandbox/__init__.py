"""A faithful local emulator of the HighLevel (Leadway CRM) API endpoints relimport uses.

One pure core (:class:`Sandbox`), two ways in: :meth:`Sandbox.transport` (in-process httpx
transport, no socket) and :func:`serve` (real HTTP on loopback). Behaviours the real API does
not document are chosen and listed in this package's README.md.
"""

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
