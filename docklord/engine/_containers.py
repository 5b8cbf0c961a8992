"""Containers: list, inspect, create, lifecycle actions, processes."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiodocker

from docklord.engine._client import EngineClient, check_ref, filters_param
from docklord.engine._errors import translate_errors
from docklord.engine._parse import (
    container_details,
    container_summary_from_inspect,
    container_summary_from_list,
)
from docklord.errors import EngineError, InvalidInput, NotFound
from docklord.model import ContainerDetails, ContainerSpec, ContainerSummary, FileEntry, ProcessList

__all__ = ["ContainerOps", "create_body", "tar_archive"]


def _host_config(spec: ContainerSpec) -> dict[str, Any]:
    host: dict[str, Any] = {
        "RestartPolicy": {"Name": spec.restart_policy, "MaximumRetryCount": 0},
        "PortBindings": {},
        "Mounts": [
            {"Type": m.type, "Source": m.source, "Target": m.target, "ReadOnly": m.read_only}
            for m in spec.mounts
        ],
    }
    if spec.restart_policy == "on-failure":
        host["RestartPolicy"]["MaximumRetryCount"] = spec.restart_max_retries
    for p in spec.ports:
        binding = {"HostIp": p.host_ip, "HostPort": str(p.host_port or "")}
        host["PortBindings"].setdefault(f"{p.container_port}/{p.protocol}", []).append(binding)
    if spec.cpus is not None:
        host["NanoCpus"] = round(spec.cpus * 1e9)
    if spec.memory is not None:
        host["Memory"] = spec.memory
    if spec.network is not None:
        host["NetworkMode"] = spec.network
    return host


def create_body(spec: ContainerSpec) -> dict[str, Any]:
    """The ``POST /containers/create`` body for a spec.

    An empty ``entrypoint`` becomes ``[""]``, which is how the engine spells "clear the
    image's entrypoint" (an empty list would mean "keep it").
    """
    body: dict[str, Any] = {
        "Image": spec.image,
        "Env": [f"{k}={v}" for k, v in spec.env.items()],
        "Labels": dict(spec.labels),
        "Tty": spec.tty,
        "OpenStdin": spec.open_stdin,
        "ExposedPorts": {f"{p.container_port}/{p.protocol}": {} for p in spec.ports},
        "HostConfig": _host_config(spec),
    }
    if spec.cmd is not None:
        body["Cmd"] = list(spec.cmd)
    if spec.entrypoint is not None:
        body["Entrypoint"] = list(spec.entrypoint) or [""]
    optional = {"WorkingDir": spec.working_dir, "User": spec.user, "Hostname": spec.hostname}
    body.update({key: value for key, value in optional.items() if value is not None})
    return body


def tar_archive(files: Sequence[FileEntry]) -> bytes:
    """An uncompressed tar holding ``files`` in order (list a directory before its files)."""
    buffer = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in files:
            info = tarfile.TarInfo(entry.path)
            info.type = tarfile.DIRTYPE if entry.is_dir else tarfile.REGTYPE
            info.mode, info.uid, info.gid, info.mtime = entry.mode, entry.uid, entry.gid, now
            info.size = len(entry.content)
            tar.addfile(info, None if entry.is_dir else io.BytesIO(entry.content))
    return buffer.getvalue()


class ContainerOps(EngineClient):
    """Container operations of :class:`~docklord.engine.Engine`."""

    async def list_containers(
        self, *, all: bool = True, filters: Mapping[str, Sequence[str]] | None = None
    ) -> list[ContainerSummary]:
        """List containers (one request; no start/finish times, see ``get_summary``).

        Args:
            all: include stopped containers.
            filters: engine filters, for example ``{"label": ["docklord.test=1"]}``.
        """
        params: dict[str, Any] = {"all": all}
        if filters:
            params["filters"] = filters_param(filters)
        items = await self._json("GET", "containers/json", params=params)
        return [container_summary_from_list(item) for item in items]

    async def get_summary(self, ref: str) -> ContainerSummary:
        """One container's summary, read from ``inspect`` (so it has start/finish times).

        Raises:
            NotFound: no container has this id, id prefix or name.
        """
        return container_summary_from_inspect(await self._inspect(ref))

    async def inspect_container(self, ref: str) -> ContainerDetails:
        """Everything the engine knows about a container, typed.

        Raises:
            NotFound: no container has this id, id prefix or name.
        """
        return container_details(await self._inspect(ref))

    async def create_container(self, spec: ContainerSpec) -> str:
        """Create (not start) a container and return its id.

        Raises:
            NotFound: the image is not on the engine (pull it first), or the network is unknown.
            Conflict: the name is taken.
            InvalidInput: the engine refused the configuration.
        """
        docker = await self._client()
        try:
            with translate_errors(self.address):
                container = await docker.containers.create(create_body(spec), name=spec.name)
        except NotFound as exc:
            if "image" in exc.message.lower():
                raise NotFound(f"image {spec.image} not found") from exc
            raise
        return str(container.id)

    async def start(self, ref: str) -> None:
        """Start a container (no error if it already runs)."""
        async with self._action(ref) as container:
            await container.start()

    async def stop(self, ref: str, *, timeout: int | None = None) -> None:  # noqa: ASYNC109
        """Stop a container: SIGTERM (or its stop signal), then SIGKILL after ``timeout`` s.

        ``None`` uses the container's own stop timeout (10 s unless configured).
        """
        async with self._action(ref) as container:
            await container.stop(t=timeout)

    async def restart(self, ref: str, *, timeout: int | None = None) -> None:  # noqa: ASYNC109
        """Restart a container (stop as in :meth:`stop`, then start)."""
        async with self._action(ref) as container:
            await container.restart(t=timeout)

    async def kill(self, ref: str, *, signal: str = "SIGKILL") -> None:
        """Send a signal to the container's main process.

        Raises:
            Conflict: the container is not running.
        """
        async with self._action(ref) as container:
            await container.kill(signal=signal)

    async def pause(self, ref: str) -> None:
        """Freeze every process of a running container."""
        async with self._action(ref) as container:
            await container.pause()

    async def unpause(self, ref: str) -> None:
        """Thaw a paused container."""
        async with self._action(ref) as container:
            await container.unpause()

    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        """Remove a container.

        Args:
            ref: id, id prefix or name.
            force: kill it first if it runs (otherwise a running container is a Conflict).
            volumes: also remove its anonymous volumes.
        """
        async with self._action(ref) as container:
            await container.delete(force=force, v=volumes)

    async def put_files(self, ref: str, directory: str, files: Sequence[FileEntry]) -> None:
        """Write files and directories into a container, created or running.

        Entries keep their mode and owner; existing files are replaced. Written before the
        first start, they are in place when the container's command begins.

        Args:
            ref: id, id prefix or name.
            directory: an absolute directory that exists in the container; entry paths are
                relative to it.
            files: the entries, each directory before what it holds.

        Raises:
            NotFound: no such container, or ``directory`` does not exist in it.
            InvalidInput: ``directory`` is not absolute, or the engine refused the archive.
        """
        if not directory.startswith("/") or "\0" in directory:
            raise InvalidInput(f"the target directory must be an absolute path: {directory!r}")
        check_ref("container", ref)
        data = tar_archive(files)
        docker = await self._client()
        try:
            # The engine answers 404 for a missing container and a missing directory alike.
            with translate_errors(self.address):
                async with docker._query(
                    f"containers/{ref}/archive",
                    "PUT",
                    params={"path": directory},
                    data=data,
                    headers={"Content-Type": "application/x-tar"},
                    timeout=self._request_timeout(),
                ) as response:
                    await response.read()
        except NotFound as exc:
            if "no such container" in exc.message.lower():
                raise NotFound(f"no such container: {ref}") from exc
            raise NotFound(f"{directory} does not exist in container {ref}") from exc

    async def top(self, ref: str, *, ps_args: str | None = None) -> ProcessList:
        """The processes running in a container (``ps`` on the engine's host).

        Raises:
            Conflict: the container is not running.
        """
        async with self._action(ref) as container:
            data = await container.top(ps_args=ps_args)
        return ProcessList(
            titles=tuple(str(t) for t in data.get("Titles") or ()),
            processes=tuple(tuple(str(c) for c in row) for row in data.get("Processes") or ()),
        )

    async def _inspect(self, ref: str) -> dict[str, Any]:
        check_ref("container", ref)
        doc = await self._json("GET", f"containers/{ref}/json", kind="container", ref=ref)
        if not isinstance(doc, dict):
            raise EngineError(f"the engine sent an unreadable inspect document for {ref}")
        return doc

    @asynccontextmanager
    async def _action(self, ref: str) -> AsyncIterator[aiodocker.containers.DockerContainer]:
        """aiodocker's handle on a container, with errors naming the container."""
        check_ref("container", ref)
        docker = await self._client()
        with translate_errors(self.address, kind="container", ref=ref):
            yield docker.containers.container(ref)
