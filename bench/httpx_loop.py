"""Contender (a): the minimal hand-written httpx asyncio loop, N requests in flight, no retry.

``python -m bench.httpx_loop URL INPUT.csv CONCURRENCY LOCATION ASSOCIATION`` (the token in
``$LEADWAY_TOKEN``) prints one JSON line of counts.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
from collections import Counter

import httpx


async def main(
    url: str, path: str, concurrency: int, location: str, association: str
) -> Counter[str]:
    with open(path, encoding="utf-8", newline="") as f:
        queue: asyncio.Queue[list[str]] = asyncio.Queue()
        for row in list(csv.reader(f))[1:]:
            queue.put_nowait(row)
    counts: Counter[str] = Counter()
    headers = {"Authorization": f"Bearer {os.environ['LEADWAY_TOKEN']}", "Version": "2021-07-28"}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                first, second = queue.get_nowait()
                body = {"locationId": location, "associationId": association,
                        "firstRecordId": first, "secondRecordId": second}  # fmt: skip
                response = await client.post("/associations/relations", json=body)
                counts["created" if response.status_code == 201 else str(response.status_code)] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return counts


if __name__ == "__main__":
    url, path, concurrency, location, association = sys.argv[1:6]
    print(json.dumps(asyncio.run(main(url, path, int(concurrency), location, association))))
