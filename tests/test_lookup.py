"""The questions a run asks before sending (:class:`importer.validate.Lookups`) and the cache
of their answers (:class:`importer.validate.AnswerCache`), against the in-process sandbox."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from importer.errors import AuthError
from importer.models import Pair
from importer.sandbox import DEMO_LOCATION, STUDENT_TEACHER_ID, Sandbox, student_id, teacher_id
from importer.validate import CACHE_NAME, AnswerCache, Question, pool
from tests.conftest import demo_settings
from tests.helpers import RefusingSearch, lookups_for

pytestmark = pytest.mark.anyio

FOUND = Question(DEMO_LOCATION, "email", "teacher1@example.edu")
MISSING = Question(DEMO_LOCATION, "email", "nobody@example.edu")
CONTACT_SEARCH = "POST /contacts/search"


async def test_each_question_is_asked_once_and_answered_with_the_ids_found() -> None:
    sandbox = Sandbox()
    lookups = lookups_for(demo_settings(Path()), sandbox.transport())
    student = Question(DEMO_LOCATION, "record:custom_objects.students", student_id(3))
    phone = Question(DEMO_LOCATION, "phone", "+15550100002")
    prop = Question(
        DEMO_LOCATION, "property:custom_objects.students:student_email", "ben.okafor@example.edu"
    )
    begun: list[int] = []
    done: list[int] = []
    await lookups.ask(
        [FOUND, MISSING, FOUND, student, phone, prop], "look-ups", begun.append, done.append
    )
    assert begun == [5] and done == [1] * 5
    assert lookups.answer(FOUND) == (teacher_id(1),)
    assert lookups.answer(MISSING) == ()
    assert lookups.answer(student) == (student_id(3),)
    assert lookups.answer(phone) == (teacher_id(2),)
    assert lookups.answer(prop) == (student_id(2),)
    assert lookups.answer(Question(DEMO_LOCATION, "email", "never@asked.example")) is None
    assert lookups.unkept == {(DEMO_LOCATION, "look-ups"): 1}
    searches = sandbox.stats(DEMO_LOCATION).by_route[CONTACT_SEARCH]
    await lookups.ask([FOUND, MISSING], "look-ups", begun.append)
    assert begun == [5]  # nothing left to ask: not begun again
    assert sandbox.stats(DEMO_LOCATION).by_route[CONTACT_SEARCH] == searches


async def test_a_question_the_api_refuses_is_answered_nothing_with_its_reason() -> None:
    settings = demo_settings(Path())
    lookups = lookups_for(settings, RefusingSearch(Sandbox(), "nobody@example.edu"))
    await lookups.ask([FOUND, MISSING], "look-ups")
    assert lookups.answer(MISSING) == ()
    assert lookups.refused == {MISSING: "email is invalid"}
    assert lookups.answer(FOUND) == (teacher_id(1),)


async def test_existing_relations_are_read_per_record() -> None:
    lookups = lookups_for(demo_settings(Path()))
    await lookups.read_existing(DEMO_LOCATION, STUDENT_TEACHER_ID, {teacher_id(1), teacher_id(2)})
    assert lookups.existing == {
        (DEMO_LOCATION, STUDENT_TEACHER_ID): {
            Pair(student_id(1), teacher_id(1)): "67d000000000000000000001",
            Pair(student_id(2), teacher_id(1)): "67d000000000000000000002",
        }
    }


async def test_the_pool_works_every_item_a_few_at_a_time_and_raises_the_first_error() -> None:
    running = 0
    most = 0
    done: list[int] = []

    async def work(item: int) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0)
        running -= 1
        done.append(item)

    await pool(list(range(10)), work, 3)
    assert sorted(done) == list(range(10)) and most == 3

    async def refuse(item: int) -> None:
        if item == 4:
            raise AuthError("revoked")
        await asyncio.sleep(0)

    with pytest.raises(AuthError, match="revoked"):
        await pool(list(range(10)), refuse, 2)


def test_the_cache_keeps_what_was_found_only_and_survives_a_broken_file(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path / CACHE_NAME, "https://api.example", 12)
    cache.put(FOUND, (teacher_id(1),))
    cache.put(MISSING, ())
    cache.close()
    again = AnswerCache(tmp_path / CACHE_NAME, "https://api.example", 12)
    assert again.get(FOUND) == (teacher_id(1),)
    assert again.get(MISSING) is None  # asked again: the record may have been added since
    assert AnswerCache(tmp_path / CACHE_NAME, "https://other.example", 12).get(FOUND) is None
    assert AnswerCache(tmp_path / CACHE_NAME, "https://api.example", 0).get(FOUND) is None
    (tmp_path / "broken.sqlite").write_bytes(b"not a database at all" * 100)
    broken = AnswerCache(tmp_path / "broken.sqlite", "https://api.example", 12)
    assert broken.get(FOUND) is None
    broken.put(FOUND, ("x",))
    broken.close()
    assert broken.get(FOUND) == ("x",)  # memory still answers for this run


def test_a_cache_kept_for_no_hours_or_asked_nothing_writes_no_file(tmp_path: Path) -> None:
    memory = AnswerCache(tmp_path / "memory.sqlite", "https://api.example", 0)
    memory.put(FOUND, (teacher_id(1),))
    memory.close()
    assert memory.get(FOUND) == (teacher_id(1),)
    idle = AnswerCache(tmp_path / "idle.sqlite", "https://api.example", 12)
    idle.put(MISSING, ())  # nothing found: nothing to keep
    idle.close()
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_answers_are_saved_every_few_so_a_crash_loses_few(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path / CACHE_NAME, "https://api.example", 12)
    questions = [
        Question(DEMO_LOCATION, "email", f"t{n}@example.edu") for n in range(AnswerCache.SAVE_EVERY)
    ]
    for question in questions:
        cache.put(question, ("c",))  # no close(): as if the run were killed after these
    reader = AnswerCache(tmp_path / CACHE_NAME, "https://api.example", 12)
    assert all(reader.get(question) == ("c",) for question in questions)
