"""What the sandbox knows at start: locations, tokens, associations, records and relations.

``demo_seed()`` is the data that ``samples/`` and ``config.yaml`` are written against: its ids
are part of the project's contract, change them only with those files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEMO_LOCATION = "ldwDemoLocation00001"
OTHER_LOCATION = "ldwOtherLocation0002"

DEMO_TOKEN = "pit-00000000-0000-4000-8000-000000000001"
READONLY_TOKEN = "pit-00000000-0000-4000-8000-000000000002"
OTHER_TOKEN = "pit-00000000-0000-4000-8000-000000000003"

STUDENT_TEACHER_ID = "67c1f2a3b4c5d6e7f8a90001"
STUDENTS_KEY = "custom_objects.students"
STUDENTS_SCHEMA_ID = "67e000000000000000000001"
OPPORTUNITIES_CONTACTS = "OPPORTUNITIES_CONTACTS_ASSOCIATION"
BUSINESSES_CONTACTS = "BUSINESSES_CONTACTS_ASSOCIATION"

READ_SCOPES = frozenset(
    {
        "associations.readonly",
        "associations/relation.readonly",
        "contacts.readonly",
        "objects/record.readonly",
        "objects/schema.readonly",
        "opportunities.readonly",
        "businesses.readonly",
    }
)
ALL_SCOPES = READ_SCOPES | {
    "associations.write",
    "associations/relation.write",
    "contacts.write",
    "objects/record.write",
    "opportunities.write",
    "businesses.write",
}

#: Names of the 12 demo students (``samples/`` uses the same ones).
STUDENT_NAMES = (
    "Ana Ruiz",
    "Ben Okafor",
    "Chloe Martin",
    "Diego Lopez",
    "Emma Schmidt",
    "Farid Haddad",
    "Grace Kim",
    "Hugo Silva",
    "Ines Moreau",
    "Jonas Berg",
    "Keira Walsh",
    "Luis Ortega",
)


@dataclass(frozen=True, slots=True)
class Token:
    """A bearer token: the locations it may act for (the first is its home) and its scopes."""

    value: str
    locations: tuple[str, ...]
    scopes: frozenset[str] = ALL_SCOPES

    def __repr__(self) -> str:
        return f"Token(value='{self.value[:8]}…', locations={self.locations!r})"


@dataclass(frozen=True, slots=True)
class AssociationDef:
    """An association definition, as GET /associations/{id} describes it."""

    id: str
    key: str
    first_object_key: str
    first_object_label: str
    second_object_key: str
    second_object_label: str
    association_type: str = "USER_DEFINED"
    first_to_second: str = "MANY_TO_MANY"
    second_to_first: str = "MANY_TO_MANY"


@dataclass(frozen=True, slots=True)
class Record:
    """One record of an object kind: contact, opportunity, business or custom_objects.<key>.

    ``fields`` is the JSON body the look-up endpoint returns, without ``id`` and ``locationId``.
    """

    object_key: str
    id: str
    fields: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PropertyDef:
    """One property (field) of a custom object: ``key`` as its records' ``properties`` name it,
    ``name`` as the CRM shows it."""

    key: str
    name: str
    data_type: str = "TEXT"


@dataclass(frozen=True, slots=True)
class ObjectDef:
    """A custom object's schema, as ``GET /objects/{key}`` describes it (the first property
    is its primary display property)."""

    id: str
    key: str  # custom_objects.<key>
    singular: str
    plural: str
    properties: tuple[PropertyDef, ...] = ()


@dataclass(frozen=True, slots=True)
class RelationDef:
    """A relation that exists before the run."""

    id: str
    association_id: str
    first_record_id: str
    second_record_id: str


@dataclass(frozen=True, slots=True)
class LocationSeed:
    """One location (sub-account) and its content."""

    id: str
    associations: tuple[AssociationDef, ...] = ()
    records: tuple[Record, ...] = ()
    relations: tuple[RelationDef, ...] = ()
    objects: tuple[ObjectDef, ...] = ()  # custom objects' schemas


@dataclass(frozen=True, slots=True)
class Seed:
    """Everything the sandbox starts with. ``Seed()`` is a sandbox with nothing at all."""

    locations: tuple[LocationSeed, ...] = ()
    tokens: tuple[Token, ...] = ()


def student_id(n: int) -> str:
    """Id of demo student ``n`` (1-based): 24 hex, the last 4 being ``n`` in decimal."""
    return f"67a349a79b28947ec1f6{n:04d}" if n < 10_000 else f"67a349a79b28947ec1{n:06d}"


def teacher_id(n: int) -> str:
    """Id of demo teacher (a contact) ``n`` (1-based): 20 characters."""
    return f"cTeacher{n:012d}"


def student_name(n: int) -> str:
    """Name of demo student ``n`` (1-based)."""
    return STUDENT_NAMES[n - 1] if n <= len(STUDENT_NAMES) else f"Student {n}"


def system_associations() -> tuple[AssociationDef, ...]:
    """The system associations every location has; their ids double as keys."""
    return (
        AssociationDef(
            OPPORTUNITIES_CONTACTS,
            OPPORTUNITIES_CONTACTS,
            "opportunity",
            "Opportunity",
            "contact",
            "Contact",
            association_type="SYSTEM_DEFINED",
        ),
        AssociationDef(
            BUSINESSES_CONTACTS,
            BUSINESSES_CONTACTS,
            "business",
            "Company",
            "contact",
            "Contact",
            association_type="SYSTEM_DEFINED",
            first_to_second="ONE_TO_MANY",
            second_to_first="MANY_TO_ONE",
        ),
    )


def students_schema() -> ObjectDef:
    """The demo custom object: students, with the two properties their records hold."""
    return ObjectDef(
        STUDENTS_SCHEMA_ID,
        STUDENTS_KEY,
        "Student",
        "Students",
        (PropertyDef("name", "Name"), PropertyDef("student_email", "Student email")),
    )


def demo_seed(*, students: int = 12, teachers: int = 8, relations: bool = True) -> Seed:
    """The demo data; more students or teachers (same id scheme) make benchmark-sized seeds."""
    student_teacher = AssociationDef(
        STUDENT_TEACHER_ID, "student_teacher", STUDENTS_KEY, "Student", "contact", "Teacher"
    )
    records = [
        Record(
            STUDENTS_KEY,
            student_id(n),
            {
                "properties": {
                    "name": student_name(n),
                    "student_email": student_name(n).lower().replace(" ", ".") + "@example.edu",
                }
            },
        )
        for n in range(1, students + 1)
    ]
    records += [
        Record(
            "contact",
            teacher_id(n),
            {
                "email": f"teacher{n}@example.edu",
                "phone": f"+1555010{n:04d}",
                "firstName": "Teacher",
                "lastName": str(n),
            },
        )
        for n in range(1, teachers + 1)
    ]
    records += [
        Record("opportunity", f"oppDemo{n:013d}", {"name": f"Demo deal {n}", "status": "open"})
        for n in range(1, 4)
    ]
    records += [
        Record("business", f"67b{n:021d}", {"name": f"Demo Company {n}"}) for n in range(1, 3)
    ]
    existing = (
        RelationDef("67d000000000000000000001", STUDENT_TEACHER_ID, student_id(1), teacher_id(1)),
        RelationDef("67d000000000000000000002", STUDENT_TEACHER_ID, student_id(2), teacher_id(1)),
    )
    demo = LocationSeed(
        DEMO_LOCATION,
        associations=(student_teacher, *system_associations()),
        records=tuple(records),
        relations=existing if relations else (),
        objects=(students_schema(),),
    )
    other = LocationSeed(
        OTHER_LOCATION,
        associations=system_associations(),
        records=(
            *(
                Record(
                    "contact",
                    f"cOtherLoc{n:011d}",
                    {"email": f"other{n}@example.org", "firstName": "Other", "lastName": str(n)},
                )
                for n in (1, 2)
            ),
            Record("opportunity", "oppOther000000000001", {"name": "Other deal", "status": "open"}),
        ),
    )
    tokens = (
        Token(DEMO_TOKEN, (DEMO_LOCATION,)),
        Token(READONLY_TOKEN, (DEMO_LOCATION,), READ_SCOPES),
        Token(OTHER_TOKEN, (OTHER_LOCATION,)),
    )
    return Seed(locations=(demo, other), tokens=tokens)


def location_id(n: int) -> str:
    """Id of location ``n`` of :func:`locations_seed` (20 characters, as the demo's)."""
    return f"ldwLocation{n:09d}"


def location_token(n: int) -> str:
    return f"pit-location-{n:09d}-token"


def deal_id(n: int, row: int) -> str:
    """Id of the opportunity of row ``row`` in location ``n`` of :func:`locations_seed`."""
    return f"oppLoc{n:04d}{row:010d}"


def contact_id(n: int, row: int) -> str:
    """Id of the contact of row ``row`` in location ``n`` of :func:`locations_seed`."""
    return f"cLoc{n:04d}{row:012d}"


def locations_seed(rows: Mapping[int, int]) -> Seed:
    """Locations ``n`` (keys) with the opportunity and contact of each of their ``rows`` and
    the system associations, for runs spanning many locations (shards, benchmarks). Each has
    a token of its own (:func:`location_token`): the sandbox counts a request that names no
    location against its token's home location."""
    locations = tuple(
        LocationSeed(
            location_id(n),
            associations=system_associations(),
            records=tuple(
                record
                for row in range(count)
                for record in (
                    Record("opportunity", deal_id(n, row)),
                    Record("contact", contact_id(n, row)),
                )
            ),
        )
        for n, count in rows.items()
    )
    tokens = tuple(Token(location_token(n), (location_id(n),)) for n in rows)
    return Seed(locations=locations, tokens=tokens)
