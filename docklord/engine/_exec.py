"""Commands in running containers: one-shot (``exec_run``) and interactive sessions."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import aiodocker

from docklord.engine._client import check_ref
from docklord.engine._errors import translate_errors
from docklord.engine._session import ExecSession
from docklord.engine._streams import StreamOps
from docklord.errors import DocklordError, InvalidInput
from docklord.model import ExecResult

__all__ = ["ExecOps"]

log = logging.getLogger(__name__)

# A timed-out exec is found again by this variable in its environment (see _terminate).
_MARKER = "DOCKLORD_EXEC_TOKEN"
# Seconds a timed-out exec gets to exit after SIGTERM before SIGKILL.
_TERM_GRACE = 2.0
# Seconds we poll for the engine to record an exec's exit code after its output ended.
_EXIT_GRACE = 2.0


def _killer_script(token: str, signal: str) -> str:
    # Every process whose environment carries the marker: the exec and its children.
    return (
        "for d in /proc/[0-9]*; do "
        f"if tr '\\0' '\\n' < \"$d/environ\" 2>/dev/null | grep -qx '{_MARKER}={token}'; "
        f'then kill -{signal} "${{d#/proc/}}" 2>/dev/null; fi; done; exit 0'
    )


def _check_cmd(cmd: Sequence[str]) -> None:
    if isinstance(cmd, str) or not cmd:
        raise InvalidInput("an exec command is a non-empty sequence of arguments, not a string")


async def _collect(execution: aiodocker.execs.Exec, out: bytearray, err: bytearray) -> None:
    async with execution.start(detach=False) as stream:
        while (message := await stream.read_out()) is not None:
            (err if message.stream == 2 else out).extend(message.data)


async def _exit_code(execution: aiodocker.execs.Exec, grace: float) -> int | None:
    """The exit code, polling briefly: the engine records it just after the output ends."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while True:
        info = await execution.inspect()
        if not info.get("Running"):
            code = info.get("ExitCode")
            return int(code) if code is not None else None
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(0.02)


class ExecOps(StreamOps):
    """Exec operations of :class:`~docklord.engine.Engine`."""

    async def exec_run(
        self,
        ref: str,
        cmd: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the API's name; enforced inside)
    ) -> ExecResult:
        """Run a command in a running container and collect its output and exit code.

        With ``timeout``, a command still running after ``timeout`` seconds is terminated
        (SIGTERM, then SIGKILL after 2 s) and the result has ``timed_out=True``, the output so
        far and ``exit_code=None`` (what the engine records for a killed exec is not reliable).
        Only that command's processes are signalled; the container and other execs go on.
        To find them, the command gets an extra ``DOCKLORD_EXEC_TOKEN`` environment variable,
        and the container needs ``sh``, ``tr``, ``grep`` and ``kill`` (best effort otherwise).

        Raises:
            NotFound: no such container.
            Conflict: the container does not run.
        """
        check_ref("container", ref)
        _check_cmd(cmd)
        token = secrets.token_hex(8) if timeout is not None else None
        environment = {**(env or {}), **({_MARKER: token} if token else {})}
        docker = await self._client()
        out, err = bytearray(), bytearray()
        with translate_errors(self.address, kind="container", ref=ref):
            execution = await docker.containers.container(ref).exec(
                list(cmd), user=user or "", environment=environment or None, workdir=workdir
            )
            deadline = asyncio.timeout(timeout)
            try:
                async with deadline:
                    await _collect(execution, out, err)
            except TimeoutError:
                if not deadline.expired() or token is None:
                    raise
                await self._terminate(ref, execution, token)
                return ExecResult(None, bytes(out), bytes(err), timed_out=True)
            code = await _exit_code(execution, _EXIT_GRACE)
        return ExecResult(code, bytes(out), bytes(err))

    async def _terminate(self, ref: str, execution: aiodocker.execs.Exec, token: str) -> None:
        """Best effort: signal the processes of one exec, never the container.

        The engine has no "kill this exec" call, and the exec's ``Pid`` is a host PID we
        cannot signal through the API. So a second exec (as root, ``sh``) signals every process
        in the container whose ``/proc/<pid>/environ`` holds this exec's random token: the
        command and the children that inherited its environment, and nothing else.
        """
        try:
            with translate_errors(self.address, kind="container", ref=ref):
                for signal in ("TERM", "KILL"):
                    if not (await execution.inspect()).get("Running"):
                        return
                    await self._signal_marked(ref, token, signal)
                    if await _exit_code(execution, _TERM_GRACE) is not None:
                        return
            log.warning("a timed-out exec in container %s is still running", ref)
        except DocklordError as exc:
            # The caller asked for a result, not for the clean-up: report it, don't fail.
            log.warning("could not terminate a timed-out exec in container %s: %s", ref, exc)

    async def _signal_marked(self, ref: str, token: str, signal: str) -> None:
        docker = await self._client()
        killer = await docker.containers.container(ref).exec(
            ["sh", "-c", _killer_script(token, signal)], user="0"
        )
        out, err = bytearray(), bytearray()
        async with asyncio.timeout(10):
            await _collect(killer, out, err)
        if await _exit_code(killer, _EXIT_GRACE) != 0:
            log.warning(
                "could not signal a timed-out exec in container %s: %s",
                ref,
                bytes(out + err).decode(errors="replace").strip(),
            )

    async def exec_interactive(
        self,
        ref: str,
        cmd: Sequence[str],
        *,
        tty: bool = True,
        env: Mapping[str, str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
        size: tuple[int, int] | None = None,
    ) -> ExecSession:
        """Start a command with stdin attached and return the live session.

        The session is an async context manager; close it to detach (the command keeps
        running unless it ends on stdin EOF or a hang-up of its terminal).

        Args:
            ref: id, id prefix or name.
            cmd: the command and its arguments.
            tty: give it a pseudo-terminal (output is then one stream).
            env: extra environment variables.
            workdir: its working directory.
            user: ``user``, ``uid`` or ``uid:gid``.
            size: the terminal size as ``(rows, cols)``.

        Raises:
            NotFound: no such container.
            Conflict: the container does not run.
        """
        check_ref("container", ref)
        _check_cmd(cmd)
        docker = await self._client()
        options: dict[str, Any] = {"stdin": True, "tty": tty, "workdir": workdir}
        options.update(user=user or "", environment=dict(env) if env else None)
        with translate_errors(self.address, kind="container", ref=ref):
            execution = await docker.containers.container(ref).exec(list(cmd), **options)
        reader, writer = await self.open_raw()
        session = ExecSession(self, execution.id, tty=tty, reader=reader, writer=writer)
        try:
            await session._start()
            if size is not None and tty:
                await session.resize(*size)
        except BaseException:
            await session.aclose()
            raise
        return session
