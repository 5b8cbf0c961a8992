"""The committed generated code is exactly what scripts/gen-proto produces from the .proto."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "docklord" / "protocol"


@pytest.mark.parametrize("name", ["docklord_pb2.py", "docklord_pb2.pyi"])
def test_generated_code_is_up_to_date(tmp_path: Path, name: str) -> None:
    subprocess.run(
        [str(ROOT / "scripts" / "gen-proto"), str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    generated = (tmp_path / name).read_bytes()
    assert generated == (PROTOCOL / name).read_bytes(), (
        f"{name} is stale: run scripts/gen-proto and commit the result"
    )
