"""The architecture, enforced: layers, seams, no import cycles, a cheap start.

Read from the source with ``ast``, so a rule breaks the build the day the code
breaks it, not the day someone notices.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "ingestq"

#: Libraries that cost seconds (or at least tens of milliseconds) to import:
#: only function bodies may import them, so `add` and `status` never pay for them.
HEAVY = {
    "chromadb",
    "charset_normalizer",
    "httpx",
    "huey",
    "lxml",
    "numpy",
    "openai",
    "protego",
    "pypdf",
    "pypdfium2",
    "selectolax",
    "sentence_transformers",
    "sqlite_utils",
    "torch",
    "trafilatura",
    "transformers",
} | {"fastapi", "starlette", "uvicorn", "python_multipart"}

#: The web stack: imported at module level only by the api package, which
#: only ``ingestq serve`` imports, inside its command.
WEB = {"fastapi", "starlette", "uvicorn", "python_multipart"}

_SQL = re.compile(
    r"^\s*(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE (TABLE|INDEX)|ALTER TABLE|"
    r"DROP (TABLE|INDEX)|PRAGMA|BEGIN|COMMIT|ROLLBACK)\b"
)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # what it imports, dotted (a module, or a package's attribute's package)
    line: int
    lazy: bool  # inside a function
    typing_only: bool  # under `if TYPE_CHECKING:`


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


MODULES = dict(_modules())


def _resolve(module: str, node: ast.ImportFrom, name: str) -> str:
    """What ``from X import name`` imports: the submodule X.name if there is one, else X."""
    base = node.module or ""
    if node.level:
        package = module.split(".")
        if MODULES[module].name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    candidate = f"{base}.{name}"
    return candidate if candidate in MODULES else base


def _imports(module: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), str(path))

    def visit(node: ast.AST, lazy: bool, typing_only: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from visit(child, True, typing_only)
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                yield from visit(child, lazy, True)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(module, alias.name, child.lineno, lazy, typing_only)
            elif isinstance(child, ast.ImportFrom):
                for alias in child.names:
                    target = _resolve(module, child, alias.name)
                    yield Import(module, target, child.lineno, lazy, typing_only)
            else:
                yield from visit(child, lazy, typing_only)

    yield from visit(tree, False, False)


IMPORTS = [imp for module, path in MODULES.items() for imp in _imports(module, path)]


def _top(target: str) -> str:
    return target.split(".")[0]


def _inside(module: str, layer: str) -> bool:
    return module == f"ingestq.{layer}" or module.startswith(f"ingestq.{layer}.")


def test_only_the_cli_imports_typer_click_or_rich() -> None:
    offenders = [
        f"{i.module}:{i.line} imports {i.target}"
        for i in IMPORTS
        if _top(i.target) in {"typer", "click", "rich"} and not _inside(i.module, "cli")
    ]
    assert offenders == []


def test_only_the_state_layer_talks_to_a_database() -> None:
    offenders = [
        f"{i.module}:{i.line} imports {i.target}"
        for i in IMPORTS
        if _top(i.target) in {"sqlite3", "psycopg", "psycopg_pool", "sqlite_utils"}
        and not _inside(i.module, "state")
    ]
    assert offenders == []


def test_no_sql_outside_the_state_layer() -> None:
    offenders = []
    for module, path in MODULES.items():
        if _inside(module, "state"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
            if is_text and _SQL.match(node.value):
                offenders.append(f"{module}:{node.lineno}: {node.value[:60]!r}")
    assert offenders == []


def test_heavy_libraries_are_imported_only_where_used() -> None:
    offenders = [
        f"{i.module}:{i.line} imports {i.target} at module level"
        for i in IMPORTS
        if _top(i.target) in HEAVY
        and not i.lazy
        and not i.typing_only
        and not (_top(i.target) in WEB and _inside(i.module, "api"))
    ]
    assert offenders == []


def test_only_serve_imports_the_api_and_only_inside_its_command() -> None:
    offenders = [
        f"{i.module}:{i.line} imports {i.target}"
        for i in IMPORTS
        if _inside(i.target, "api")
        and not _inside(i.module, "api")
        and (i.module != "ingestq.cli.serve" or not i.lazy)
    ]
    assert offenders == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph.get(node, ()):
            if succ not in index:
                strongconnect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            strongconnect(node)
    return found


def test_there_are_no_import_cycles_lazy_imports_included() -> None:
    graph: dict[str, set[str]] = {}
    for i in IMPORTS:
        if i.target in MODULES and not i.typing_only and i.target != i.module:
            graph.setdefault(i.module, set()).add(i.target)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_cycles() -> None:
    # The guard above is only as good as this.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


#: What each layer may import, besides the base modules (config, errors, times, ...).
#: state, queue and readers stand on the base alone, store on the state too; embed reads pages;
#: the pipeline and the worker build on all of them; ops and the CLI sit on top.
LAYERS = {
    "state": set(),
    "queue": set(),
    "store": {"state"},  # blobs live in the state database when it is on a server
    "readers": set(),
    "embed": {"readers"},
    "pipeline": {"state", "store", "readers", "embed"},
    "worker": {"state", "queue", "store", "readers", "embed", "pipeline"},
    "ops": {"state", "queue", "store", "readers", "embed", "pipeline", "worker"},
    # The API stands on the same core as the CLI, through ops alone.
    "api": {"ops"},
    "cli": {"state", "queue", "store", "readers", "embed", "pipeline", "worker", "ops", "api"},
}


@pytest.mark.parametrize("layer", [*LAYERS, "base"])
def test_layers_depend_only_on_the_layers_below(layer: str) -> None:
    if layer == "base":
        # (``python -m ingestq`` runs the CLI: that entry point is above everything.)
        mine = [
            m
            for m in MODULES
            if m != "ingestq.__main__" and not any(_inside(m, other) for other in LAYERS)
        ]
        allowed: set[str] = set()
    else:
        mine = [m for m in MODULES if _inside(m, layer)]
        allowed = LAYERS[layer]
    offenders = sorted(
        f"{i.module}:{i.line} imports {i.target}"
        for i in IMPORTS
        if i.module in mine and not i.typing_only
        for other in LAYERS
        if other != layer and _inside(i.target, other) and other not in allowed
    )
    assert mine and offenders == []


def test_modules_stay_small() -> None:
    big = {
        module: n
        for module, path in MODULES.items()
        if (n := len(path.read_text().splitlines())) > 400
    }
    assert big == {}


def test_importing_the_cli_loads_none_of_the_heavy_stack() -> None:
    code = (
        "import sys, ingestq, ingestq.cli\n"
        f"print(sorted(m for m in {sorted(HEAVY)!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.strip() == "[]"


def test_functions_stay_short() -> None:
    # A body (its docstring and signature aside) of more than 50 lines wants splitting.
    long = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                body = node.body[1:] if ast.get_docstring(node) else node.body
                if body and (n := (body[-1].end_lineno or 0) - body[0].lineno + 1) > 50:
                    long.append(f"{module}.{node.name}: {n} lines")
    assert long == []
