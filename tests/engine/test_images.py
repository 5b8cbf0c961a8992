"""Images: list, pull from a local registry with progress, remove, prune."""

from __future__ import annotations

import asyncio
import contextlib
import io
import tarfile

import pytest

from docklord.engine import Engine
from docklord.engine._images import pull_progress, split_image_ref
from docklord.errors import Conflict, NotFound
from docklord.model import PullProgress
from docklord.testing import TEST_LABEL, TEST_RUN, unique_name

from ._support import MakeContainer


async def test_list_images_includes_the_test_image(engine: Engine, busybox_image: str) -> None:
    images = await engine.list_images()
    [busybox] = [i for i in images if busybox_image in i.repo_tags]
    assert busybox.id.startswith("sha256:") and busybox.size > 0 and busybox.created > 0
    assert all("<none>:<none>" not in i.repo_tags for i in images)


async def test_pull_from_local_registry_reports_progress(engine: Engine, registry: str) -> None:
    ref = f"{registry}/docklord-test/busybox:latest"
    progress = [p async for p in engine.pull(ref)]
    statuses = [p.status for p in progress]
    assert statuses[0] == "Pulling from docklord-test/busybox"
    assert progress[0].id == "latest"
    assert any(s.startswith("Digest: sha256:") for s in statuses)
    assert statuses[-1].startswith("Status: ") and ref in statuses[-1]
    assert all(not p.error for p in progress)
    tagged = [i for i in await engine.list_images() if ref in i.repo_tags]
    assert len(tagged) == 1
    removed = await engine.remove_image(ref)
    assert removed[0] == ref
    assert all(ref not in i.repo_tags for i in await engine.list_images())


async def test_pull_of_a_missing_image_is_not_found(engine: Engine, registry: str) -> None:
    ref = f"{registry}/docklord-test/{unique_name('absent')}:latest"
    with pytest.raises(NotFound, match="absent"):
        async for _ in engine.pull(ref):
            pass


async def test_remove_image_errors(
    engine: Engine, busybox_image: str, make_container: MakeContainer
) -> None:
    with pytest.raises(NotFound, match="no such image: docklord-test/nope:1"):
        await engine.remove_image("docklord-test/nope:1")
    await make_container(start=False)
    with pytest.raises(Conflict):
        await engine.remove_image(busybox_image)


async def test_prune_removes_only_matching_dangling_images(engine: Engine) -> None:
    marker = unique_name("prune")
    image_id = await _import_dangling_image(marker)
    try:
        others = await engine.prune_images(filters={"label": [f"docklord.test.prune={marker}-x"]})
        assert others.deleted == ()
        result = await engine.prune_images(filters={"label": [f"docklord.test.prune={marker}"]})
        assert image_id in result.deleted
        assert result.space_reclaimed > 0
        assert all(i.id != image_id for i in await engine.list_images())
    finally:
        with contextlib.suppress(NotFound):
            await engine.remove_image(image_id, force=True)


def test_image_reference_and_progress_parsing() -> None:
    assert split_image_ref("busybox") == ("busybox", "latest")
    assert split_image_ref("127.0.0.1:5000/a/b") == ("127.0.0.1:5000/a/b", "latest")
    assert split_image_ref("127.0.0.1:5000/a/b:1.2") == ("127.0.0.1:5000/a/b", "1.2")
    assert split_image_ref("a/b:1@sha256:ff") == ("a/b", "sha256:ff")
    message = {
        "status": "Downloading",
        "id": "abc",
        "progressDetail": {"current": 10, "total": 20},
        "progress": "[=>  ] 10B/20B",
    }
    assert pull_progress(message) == PullProgress("Downloading", "abc", 10, 20, "[=>  ] 10B/20B")
    failed = pull_progress({"errorDetail": {"message": "boom"}, "error": "boom"})
    assert failed.error == "boom" and failed.progress_current is None


async def _import_dangling_image(marker: str) -> str:
    """An untagged image labelled for this test only (``docker import`` of a one-file tar)."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        data = marker.encode()
        info = tarfile.TarInfo("marker")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    labels = f"LABEL {TEST_LABEL}={TEST_RUN} docklord.test.prune={marker}"
    process = await asyncio.create_subprocess_exec(
        "docker",
        "import",
        "--change",
        labels,
        "-",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate(archive.getvalue())
    assert process.returncode == 0
    return out.decode().strip()
