"""Run by test_durability: writes audit entries until killed.

Prints the id of each entry once ``record`` has returned, i.e. once the store acknowledged
(committed) the write: ``python crash_writer.py DATABASE_URL``.
"""

from __future__ import annotations

import asyncio
import sys

from docklord.store import Store


async def main(url: str) -> None:
    async with Store(url) as store:
        print("ready", flush=True)
        n = 0
        while True:
            entry = await store.record("test:crash", "write", target=str(n))
            print(entry.id, flush=True)
            n += 1


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
