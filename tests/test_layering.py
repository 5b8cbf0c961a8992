"""DESIGN.md §12: imports point down, pinned by import-linter's contracts in pyproject.toml.

``./scripts/test`` runs ``lint-imports`` on the tree; these tests show that the contracts hold
and that they are not vacuous: each deliberately wrong import below, planted in a copy of the
package, breaks the contract that names it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(root / "pyproject.toml")],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_tree_keeps_every_contract() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout


#: (module, the wrong import planted in it, the contract it breaks, what the report names).
WRONG_IMPORTS = [
    # The coordinator names a domain value through the Docker adapter.
    (
        "coordinator/_refs.py",
        "from docklord.engine import Engine",
        "The coordinator side never imports the engine, aiodocker or aiohttp",
        "docklord.coordinator._refs -> docklord.engine",
    ),
    # The wire format depends on the adapter (as protocol/_convert.py once did).
    (
        "protocol/_stats.py",
        "import docklord.engine",
        "Layers: imports point down (DESIGN.md §12)",
        "docklord.protocol._stats -> docklord.engine",
    ),
    # Web takes the channel frame format from a private node module.
    (
        "web/_tunnel.py",
        "from docklord.node import _ops_streams",
        "Web never imports the node agent",
        "docklord.web._tunnel -> docklord.node",
    ),
    # A cycle hidden behind TYPE_CHECKING, as node/_ops_*.py once had.
    (
        "node/_handlers.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from docklord.node._operations import Operations",
        "No import cycles between the modules of a package",
        "._handlers -> ._operations",
    ),
    # A lazy import upwards, as Coordinator.app() once had.
    (
        "coordinator/_history.py",
        "def _app():\n    import docklord.web",
        "Layers: imports point down (DESIGN.md §12)",
        "docklord.coordinator._history -> docklord.web",
    ),
    # A leaf that loads the engine's HTTP library.
    (
        "model/_instances.py",
        "import aiohttp",
        "The coordinator side never imports the engine, aiodocker or aiohttp",
        "docklord.model._instances -> aiohttp",
    ),
]


def test_each_wrong_import_breaks_its_contract(tmp_path: Path) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(
        ROOT / "docklord",
        tmp_path / "docklord",
        ignore=shutil.ignore_patterns("__pycache__", "static", "migrations"),
    )
    for module, wrong_import, _, _ in WRONG_IMPORTS:
        target = tmp_path / "docklord" / module
        target.write_text(target.read_text() + "\n" + wrong_import + "\n")
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    report = result.stdout.split("Broken contracts", 1)[1]
    # Each broken contract is a heading underlined with dashes, followed by its import chains.
    headings = sorted(report.index(f"\n{c}\n---") for c in {w[2] for w in WRONG_IMPORTS})
    for module, _, contract, evidence in WRONG_IMPORTS:
        start = report.index(f"\n{contract}\n---")
        end = next((h for h in headings if h > start), len(report))
        assert evidence in report[start:end], (module, contract)


#: Imports what `docklord coordinator` may import: the CLI (cli/_main.py imports each command's
#: needs lazily; `docklord up` runs a node in process, so cli/_up.py is left out) and every
#: module of the coordinator-side packages; then lists what of the Docker client got loaded.
COORDINATOR_IMPORTS = """
import importlib, pkgutil, sys
import docklord.cli
for name in ("coordinator", "web", "server", "store", "link", "protocol", "model"):
    package = importlib.import_module("docklord." + name)
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
loaded = [m for m in sys.modules if m.split(".")[0] in ("aiodocker", "aiohttp")]
loaded += [m for m in sys.modules if m.startswith(("docklord.engine", "docklord.node"))]
print(len([m for m in sys.modules if m.startswith("docklord.")]), sorted(loaded))
"""


def test_a_coordinator_process_never_loads_the_docker_client() -> None:
    result = _run_python(COORDINATOR_IMPORTS)
    assert result.returncode == 0, result.stderr
    count, loaded = result.stdout.split(" ", 1)
    assert loaded == "[]\n"
    assert int(count) > 60  # the walk did import the packages


#: What `docklord node` imports (the CLI and the node package), then which of the libraries
#: only the coordinator or an instance needs got loaded.
NODE_IMPORTS = """
import sys
import docklord.cli, docklord.node
heavy = ("starlette", "anyio", "cryptography", "grpc", "sqlalchemy", "uvicorn")
print(sorted({m.split(".")[0] for m in sys.modules} & set(heavy)))
"""


def test_a_node_process_does_not_load_what_only_the_coordinator_needs() -> None:
    # Each is several MB of an idle node's memory (DESIGN.md §8: at most 60 MB).
    result = _run_python(NODE_IMPORTS)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"
