"""Writing files into a container before it starts (the engine's "put archive")."""

from __future__ import annotations

import io
import tarfile

import pytest

from docklord.engine import Engine
from docklord.engine._containers import tar_archive
from docklord.errors import InvalidInput, NotFound
from docklord.model import FileEntry
from docklord.testing import unique_name

from ._support import MakeContainer

KEYS = [
    FileEntry("box/.ssh", mode=0o700, is_dir=True),
    FileEntry("box/.ssh/authorized_keys", b"ssh-ed25519 AAAA test\n", mode=0o600),
]


async def _sh(engine: Engine, ref: str, script: str) -> str:
    result = await engine.exec_run(ref, ["sh", "-c", script])
    assert result.exit_code == 0, result.stderr
    return result.stdout.decode()


async def test_files_written_before_start_are_in_place(
    engine: Engine, make_container: MakeContainer
) -> None:
    ref = await make_container(start=False)
    await engine.put_files(ref, "/tmp", [FileEntry("box", mode=0o755, is_dir=True), *KEYS])
    await engine.start(ref)
    stat = await _sh(engine, ref, "stat -c '%n %a %u:%g' /tmp/box/.ssh /tmp/box/.ssh/*")
    assert stat.splitlines() == [
        "/tmp/box/.ssh 700 0:0",
        "/tmp/box/.ssh/authorized_keys 600 0:0",
    ]
    assert await _sh(engine, ref, "cat /tmp/box/.ssh/authorized_keys") == (
        "ssh-ed25519 AAAA test\n"
    )


async def test_files_replace_and_take_an_owner_in_a_running_container(
    engine: Engine, make_container: MakeContainer
) -> None:
    ref = await make_container()
    await engine.put_files(ref, "/tmp", [FileEntry("note", b"one", mode=0o644)])
    await engine.put_files(ref, "/tmp", [FileEntry("note", b"two", mode=0o640, uid=7, gid=8)])
    written = await _sh(engine, ref, "stat -c '%a %u:%g' /tmp/note; cat /tmp/note")
    assert written == "640 7:8\ntwo"


async def test_missing_container_or_directory_is_not_found(
    engine: Engine, make_container: MakeContainer
) -> None:
    missing = unique_name("missing")
    with pytest.raises(NotFound, match=f"^no such container: {missing}$"):
        await engine.put_files(missing, "/tmp", KEYS)
    ref = await make_container(start=False)
    with pytest.raises(NotFound, match=f"^/nowhere does not exist in container {ref}$"):
        await engine.put_files(ref, "/nowhere", KEYS)
    with pytest.raises(InvalidInput, match="absolute"):
        await engine.put_files(ref, "tmp", KEYS)


def test_the_archive_keeps_order_modes_and_owners() -> None:
    with tarfile.open(fileobj=io.BytesIO(tar_archive(KEYS))) as tar:
        members = tar.getmembers()
        assert [(m.name, m.isdir(), m.mode, m.uid, m.gid) for m in members] == [
            ("box/.ssh", True, 0o700, 0, 0),
            ("box/.ssh/authorized_keys", False, 0o600, 0, 0),
        ]
        extracted = tar.extractfile(members[1])
        assert extracted is not None and extracted.read() == b"ssh-ed25519 AAAA test\n"


@pytest.mark.parametrize(
    "fields",
    [
        {"path": ""},
        {"path": "/etc/passwd"},
        {"path": "a/../../etc"},
        {"path": "a//b"},
        {"path": "a", "mode": 0o10000},
        {"path": "a", "is_dir": True, "content": b"x"},
        {"path": "a", "uid": -1},
    ],
)
def test_entry_validation(fields: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        FileEntry(**fields)  # type: ignore[arg-type]
