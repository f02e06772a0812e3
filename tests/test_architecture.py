"""Layering rules from DESIGN.md that a test can keep."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE = [ROOT / "projects" / "ml", ROOT / "projects" / "charts"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    "path", [p for folder in PURE for p in sorted(folder.rglob("*.py"))], ids=str
)
def test_it_keeps_ml_and_charts_free_of_django(path):
    bad = {
        name
        for name in _imports(path)
        if name.split(".")[0] == "django"
        or (
            name.startswith("projects.")
            and not name.startswith(("projects.ml", "projects.charts"))
        )
    }
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
