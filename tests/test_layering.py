"""The package's layers only import downwards: manifest → planning → running → media →
reporting → cli.

Reads every module's imports with `ast` (including imports inside functions and under
TYPE_CHECKING), so a back-arrow fails here before it becomes an import cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import kling_pipe

PACKAGE_DIR = Path(kling_pipe.__file__).resolve().parent

# Which top-level parts of the package a part may never import.
_ABOVE_PLANNING = {"running", "cli", "backends", "media", "reporting", "campaign", "api"}
FORBIDDEN: dict[str, set[str]] = {
    "manifest": {"planning", "workspace", "emulator", *_ABOVE_PLANNING},
    "models": {"manifest", "planning", "workspace", *_ABOVE_PLANNING},
    "media": {"planning", "running", "cli", "reporting", "campaign", "manifest", "api"},
    "planning": {"emulator", "workspace", *_ABOVE_PLANNING},
    "backends": {"running", "cli", "reporting", "campaign", "api", "planning"},
}
EVERYONE_BUT_CLI_MAY_NOT_IMPORT = "cli"
CLI_PARTS = {"cli", "__main__"}


def _part_of(module: str) -> str:
    """`kling_pipe.planning.jobs` → `planning`; `kling_pipe.campaign` → `campaign`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module_name(path: Path, package_dir: Path) -> str:
    relative = path.relative_to(package_dir.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> Iterator[tuple[str, int]]:
    """(module imported, line) for every import in `source`, relative ones made absolute."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == "kling_pipe":
                # `from kling_pipe import planning` imports the subpackage itself.
                for alias in node.names:
                    yield f"kling_pipe.{alias.name}", node.lineno
            else:
                yield target, node.lineno


def back_arrows(package_dir: Path) -> list[str]:
    """Every import in the package that points from a lower layer to a higher one."""
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        module = _module_name(path, package_dir)
        part = _part_of(module)
        imports = imported_modules(path.read_text("utf-8"), module, path.name == "__init__.py")
        for target, line in imports:
            if not target.startswith("kling_pipe."):
                continue
            target_part = _part_of(target)
            forbidden = set(FORBIDDEN.get(part, set()))
            if part not in CLI_PARTS and module != "kling_pipe":
                forbidden.add(EVERYONE_BUT_CLI_MAY_NOT_IMPORT)
            if target_part in forbidden and target_part != part:
                where = path.relative_to(package_dir.parent)
                found.append(f"{where}:{line}: {module} imports {target} ({part} → {target_part})")
    return found


def test_no_module_imports_a_higher_layer() -> None:
    assert back_arrows(PACKAGE_DIR) == []


def test_a_back_arrow_is_found_with_its_file_and_line(tmp_path: Path) -> None:
    package = tmp_path / "kling_pipe"
    (package / "manifest").mkdir(parents=True)
    (package / "media").mkdir()
    (package / "running").mkdir()
    (package / "__init__.py").write_text("from kling_pipe.cli import app\n")
    (package / "manifest" / "__init__.py").write_text("")
    (package / "manifest" / "loader.py").write_text(
        "import os\n\ndef f():\n    from kling_pipe.planning.matrix import RESERVED\n"
    )
    (package / "media" / "preview.py").write_text("from ..planning import dialogue\n")
    (package / "running" / "runner.py").write_text("from kling_pipe import cli\n")

    assert back_arrows(package) == [
        "kling_pipe/manifest/loader.py:4: kling_pipe.manifest.loader imports "
        "kling_pipe.planning.matrix (manifest → planning)",
        "kling_pipe/media/preview.py:1: kling_pipe.media.preview imports "
        "kling_pipe.planning (media → planning)",
        "kling_pipe/running/runner.py:1: kling_pipe.running.runner imports kling_pipe.cli "
        "(running → cli)",
    ]
