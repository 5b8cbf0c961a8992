from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

from sqlalchemy import make_url

from docklord.store import Store

from .conftest import ROOT

WRITER = Path(__file__).with_name("crash_writer.py")


async def _run_until_killed(url: str, acknowledged_before_kill: int) -> list[int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(WRITER), url, stdout=asyncio.subprocess.PIPE, env=env
    )
    assert proc.stdout is not None
    acknowledged: list[int] = []
    try:
        assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"ready"
        while len(acknowledged) < acknowledged_before_kill:
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line, "the writer died on its own"
            acknowledged.append(int(line))
        proc.kill()  # SIGKILL, in the middle of the stream of writes
    finally:
        if proc.returncode is None:
            proc.kill()
        # Whatever it printed before it died was acknowledged too.
        rest = await proc.stdout.read()
        await proc.wait()
    acknowledged += [int(line) for line in rest.split()]
    return acknowledged


async def test_every_acknowledged_write_survives_kill_9(database_url: str) -> None:
    acknowledged = await _run_until_killed(database_url, acknowledged_before_kill=200)
    async with Store(database_url) as store:
        stored: set[int] = set()
        before: int | None = None
        while page := await store.list_audit(actor="test:crash", limit=1000, before_id=before):
            stored |= {entry.id for entry in page}
            before = page[-1].id
        missing = set(acknowledged) - stored
        assert not missing, f"{len(missing)} acknowledged writes were lost"
        # And the store goes on working after the crash.
        await store.record("test:crash", "after")
    if database_url.startswith("sqlite"):
        path = make_url(database_url).database
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        db.close()
