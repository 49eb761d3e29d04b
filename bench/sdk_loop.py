"""Contenders (b) and (c): the official SDK (``gohighlevel-api-client``) in the sequential loop a
user would write, plain (a refused row is printed by the SDK and skipped) or with the
retry-on-429 loop a careful user adds (exponential back-off from ``backoff`` seconds, 8 attempts:
the SDK's errors carry no rate-limit headers to pace on). Its base URL is the class attribute
``HighLevel.BASE_URL``.

``python -m bench.sdk_loop JOBS.json`` runs each job ``{"url", "path", "retry", "backoff"}`` in
turn in this one process (the SDK takes over a second to import: that is not counted) and
prints, as its last line, a JSON list of ``{"counts", "wall", "cpu"}`` per job.
"""

from __future__ import annotations

import asyncio
import csv
import json
import sys
import time
from collections import Counter
from typing import Any

from highlevel import HighLevel  # type: ignore[import-untyped]
from highlevel.error import GHLError  # type: ignore[import-untyped]

from importer.sandbox import DEMO_LOCATION, DEMO_TOKEN, STUDENT_TEACHER_ID

ATTEMPTS = 8


async def load(url: str, path: str, retry: bool, backoff: float) -> Counter[str]:
    HighLevel.BASE_URL = url
    ghl = HighLevel(private_integration_token=DEMO_TOKEN)
    counts: Counter[str] = Counter()
    with open(path, encoding="utf-8", newline="") as f:
        for first, second in list(csv.reader(f))[1:]:
            body = {"locationId": DEMO_LOCATION, "associationId": STUDENT_TEACHER_ID,
                    "firstRecordId": first, "secondRecordId": second}  # fmt: skip
            for attempt in range(ATTEMPTS if retry else 1):
                try:
                    await ghl.associations.create_relation(body)
                    counts["created"] += 1
                    break
                except GHLError as error:
                    status = error.status_code
                    counts[f"error {status}"] += 1
                    if not retry or (status != 429 and status is not None and status < 500):
                        counts["lost"] += 1
                        break
                    if attempt == ATTEMPTS - 1:
                        counts["lost"] += 1
                    else:
                        await asyncio.sleep(backoff * 2**attempt)
    await ghl.close()
    return counts


def main(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    done = []
    for job in jobs:
        wall, cpu = time.perf_counter(), time.process_time()
        counts = asyncio.run(load(job["url"], job["path"], job["retry"], job["backoff"]))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        done.append({"counts": counts, "wall": wall, "cpu": cpu})
    return done


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        print(json.dumps(main(json.load(f))))
