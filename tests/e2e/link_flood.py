"""Run by test_link_hardening: floods a coordinator's link endpoint with garbage.

``python link_flood.py WS_URL CLIENTS SECONDS``: each client dials ``/api/v1/link`` again and
again and sends 64 random bytes, until SECONDS are over; prints the number of attempts.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import websockets


async def client(url: str, until: float) -> int:
    attempts = 0
    while time.monotonic() < until:
        try:
            async with websockets.connect(url, open_timeout=5, close_timeout=1) as ws:
                await ws.send(os.urandom(64))
                await asyncio.wait_for(ws.recv(), 5)
        except (OSError, TimeoutError, websockets.WebSocketException):
            pass
        attempts += 1
    return attempts


async def main(url: str, clients: int, seconds: float) -> None:
    until = time.monotonic() + seconds
    counts = await asyncio.gather(*(client(url, until) for _ in range(clients)))
    print(sum(counts), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
