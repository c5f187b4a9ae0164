"""The folders are the layers: ui over chat, hosting and store; none of those imports ui or Streamlit, the
store imports nothing else of the app, and the simulator is reached only by the offline demo."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "glmchat"


def imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (a function's lazy import counts too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules(layer: str) -> dict[str, set[str]]:
    return {str(p.relative_to(ROOT)): imports(p) for p in (PACKAGE / layer).rglob("*.py")}


def test_every_module_lives_in_a_layer():
    flat = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert flat == [], f"modules outside the layer folders: {flat}"
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} == {
        "ui",
        "chat",
        "hosting",
        "store",
    }


def test_no_lower_layer_imports_the_ui_or_streamlit():
    for layer in ("chat", "hosting", "store"):
        for name, found in modules(layer).items():
            upward = sorted(m for m in found if m.startswith(("glmchat.ui", "streamlit")))
            assert not upward, f"{name} imports {upward}"


def test_the_store_imports_nothing_else_of_the_app():
    for name, found in modules("store").items():
        outside = sorted(m for m in found if m.startswith("glmchat") and not m.startswith("glmchat.store"))
        assert not outside, f"{name} imports {outside}"


def test_only_the_offline_demo_reaches_the_simulator():
    users = {
        name
        for layer in ("ui", "chat", "hosting", "store")
        for name, found in modules(layer).items()
        if any(m.startswith("glmsim") for m in found)
    }
    assert users == {"glmchat/chat/client.py"}
    for page in [ROOT / "app.py", *sorted((ROOT / "app_pages").glob("*.py"))]:
        assert not [m for m in imports(page) if m.startswith("glmsim")], page
