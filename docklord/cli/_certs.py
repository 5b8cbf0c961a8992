"""``docklord certs``: a small CA and a server certificate for a coordinator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from docklord.cli._main import app
from docklord.errors import ConfigError

__all__ = ["certs"]


@app.command()
def certs(
    out: Annotated[Path, typer.Option(help="Directory to write the files to.")],
    host: Annotated[
        list[str],
        typer.Option(help="A host name or IP address of the coordinator; repeat for several."),
    ],
    days: Annotated[int, typer.Option(min=1, max=3650, help="Server certificate lifetime.")] = 825,
    force: Annotated[bool, typer.Option(help="Replace existing files.")] = False,
) -> None:
    """Write a CA (ca.pem, ca-key.pem) and a server certificate (server.pem, server-key.pem)."""
    from docklord.coordinator._tls import write_certificates

    try:
        files = write_certificates(out, host, days=days, force=force)
    except ConfigError as exc:
        typer.echo(f"docklord: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"Wrote {files.ca_cert}, {files.ca_key} (keep it safe), {files.cert}, {files.key}.\n"
        "Serve TLS with:\n"
        f"  docklord coordinator --tls-cert {files.cert} --tls-key {files.key}\n"
        "Nodes verify the coordinator with:\n"
        f"  docklord node --coordinator wss://{host[0]}:3000 --ca-file {files.ca_cert}"
    )
