from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from docklord.errors import ConfigError

__all__ = ["NodeIdentity", "load_identity", "save_identity"]

STATE_FILE = "node.json"


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """A node's credentials: its id and its secret (never logged, never shown again)."""

    node_id: str
    password: str = field(repr=False)

    @classmethod
    def generate(cls) -> NodeIdentity:
        """A fresh identity: a 16-hex-digit id and a 32-byte random password."""
        return cls(node_id=secrets.token_hex(8), password=secrets.token_urlsafe(32))


def load_identity(state_dir: str) -> NodeIdentity | None:
    """The identity stored in ``state_dir``, or ``None`` if there is none yet."""
    path = Path(state_dir) / STATE_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read node state file {path}: {exc}") from exc
    if not isinstance(data, dict) or not data.get("node_id") or not data.get("password"):
        raise ConfigError(f"node state file {path} has no node_id/password")
    return NodeIdentity(node_id=str(data["node_id"]), password=str(data["password"]))


def save_identity(state_dir: str, identity: NodeIdentity) -> Path:
    """Write ``identity`` to ``state_dir/node.json``, readable by its owner only (0600)."""
    directory = Path(state_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / STATE_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"node_id": identity.node_id, "password": identity.password}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
