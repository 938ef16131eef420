"""The project's structure, checked from its source (ast): no import cycle; database libraries
imported only inside tasks/warehouse/; no dispatch on the warehouse's kind outside the factory.

Each rule is a function of a root folder, run on the project and on a small planted tree that
breaks it (so each test shows its rule fires)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

from tasks.warehouse.names import WAREHOUSE_SCHEMES

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("cli", "flows", "tasks", "deployments")
DATABASE_LIBRARIES = (
    "sqlalchemy",
    "duckdb",
    "duckdb_engine",
    "psycopg",
    "psycopg2",
    "sqlalchemy_redshift",
)
WAREHOUSE_PACKAGE = "tasks.warehouse"
FACTORY = "tasks.warehouse.factory"
KIND_NAMES = {"kind", "warehouse_kind"}
KIND_VALUES = set(WAREHOUSE_SCHEMES) | set(WAREHOUSE_SCHEMES.values())


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under the source folders."""
    found = {}
    for folder in SOURCES:
        for path in sorted((root / folder).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _type_checking_only(tree: ast.Module) -> set[ast.AST]:
    """Import nodes under `if TYPE_CHECKING:` (never executed)."""
    skipped: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skipped.update(ast.walk(child))
    return skipped


@functools.cache
def _parse(source: str) -> ast.Module:
    """One parse per source text: the rules below walk the project's files several times (the
    trees are only read)."""
    return ast.parse(source)


def imports(module: str, path: Path) -> tuple[tuple[str, int], ...]:
    """(imported name, line) of every import in the file, module-level or inside a function;
    `from a import b` yields both `a` and `a.b` (b may be a module)."""
    return _imports(module, path.name == "__init__.py", path.read_text(encoding="utf-8"))


@functools.cache
def _imports(module: str, is_package: bool, source: str) -> tuple[tuple[str, int], ...]:
    tree = _parse(source)
    skipped = _type_checking_only(tree)
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, node.lineno))
            for alias in node.names:
                found.append((f"{base}.{alias.name}", node.lineno))
    return tuple(found)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> project modules it imports. Importing `a.b.c` also runs the packages `a.b` and
    `a` (their __init__), except those the importer is itself inside (already running)."""
    known = modules(root)
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        if path.name == "__init__.py":
            own.add(name)
        for target, _ in imports(name, path):
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                candidate = ".".join(parts[:i])
                if candidate in known and candidate not in own and candidate != name:
                    graph[name].add(candidate)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def database_imports(root: Path) -> list[str]:
    """`module:line imports name` for each database library imported outside the package."""
    found = []
    for name, path in modules(root).items():
        if name == WAREHOUSE_PACKAGE or name.startswith(WAREHOUSE_PACKAGE + "."):
            continue
        for target, line in imports(name, path):
            top = target.split(".")[0]
            if top in DATABASE_LIBRARIES or top.startswith("adbc_driver_"):
                found.append(f"{name}:{line} imports {target}")
    return sorted(set(found))


def _is_kind(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr in KIND_NAMES) or (
        isinstance(node, ast.Name) and node.id in KIND_NAMES
    )


def _kind_values(node: ast.AST) -> bool:
    """A warehouse kind or scheme literal, or a tuple/list/set of them."""
    if isinstance(node, ast.Constant):
        return node.value in KIND_VALUES
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_kind_values(item) for item in node.elts)
    return False


def kind_dispatch(root: Path) -> list[str]:
    """`module:line code` for each comparison of a warehouse's kind outside the factory:
    `x.kind == …` / `x.kind in (…)` whatever the other side, or a variable named `kind`
    compared with a warehouse kind (`kind == "duckdb"`; a column's kind "date" is no warehouse);
    also isinstance() against a *Warehouse class."""
    found = []
    for name, path in modules(root).items():
        if name == FACTORY:
            continue
        for node in ast.walk(_parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                by_attribute = any(isinstance(o, ast.Attribute) and _is_kind(o) for o in operands)
                by_name = any(_is_kind(o) for o in operands) and any(map(_kind_values, operands))
                if by_attribute or by_name:
                    found.append(f"{name}:{node.lineno} {ast.unparse(node)}")
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "isinstance"
                and len(node.args) == 2
                and "Warehouse" in ast.unparse(node.args[1])
            ):
                found.append(f"{name}:{node.lineno} {ast.unparse(node)}")
    return found


# -- the project -------------------------------------------------------------------------------
def test_the_project_has_no_import_cycle():
    cycle = find_cycle(import_graph(ROOT))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_only_the_warehouse_package_imports_database_libraries():
    assert database_imports(ROOT) == []


def test_no_dispatch_on_the_warehouse_kind_outside_the_factory():
    assert kind_dispatch(ROOT) == []


def test_the_graph_sees_the_known_edges():
    """The walk is not vacuous: it sees module-level, function-local and package imports."""
    graph = import_graph(ROOT)
    assert "tasks.warehouse.names" in graph["tasks.settings"]
    assert "tasks.warehouse" in graph["tasks.settings"]  # its __init__ runs first
    assert "tasks.warehouse.core" in graph["tasks.warehouse.duckdb_io"]
    assert "tasks.warehouse" not in graph["tasks.warehouse.duckdb_io"]  # its own package
    assert "tasks.capacity" in graph["tasks.doctor"]  # imported inside a function
    assert len(modules(ROOT)) > 30


# -- each rule fires on a planted tree -----------------------------------------------------------
def _plant(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_a_cycle_is_found_and_named(tmp_path):
    root = _plant(
        tmp_path,
        {
            "tasks/__init__.py": "",
            "tasks/a.py": "from tasks import b\n",
            "tasks/b.py": "def later():\n    from tasks.c import x\n",  # function-local too
            "tasks/c.py": "import tasks.a\nx = 1\n",
            "tasks/d.py": "from tasks import a\n",
        },
    )
    assert find_cycle(import_graph(root)) == ["tasks.a", "tasks.b", "tasks.c", "tasks.a"]


def test_a_cycle_through_a_package_init_is_found(tmp_path):
    """The circle the settings/warehouse split avoids: settings imports a leaf of a package
    whose __init__ imports a module that imports settings."""
    root = _plant(
        tmp_path,
        {
            "tasks/__init__.py": "",
            "tasks/settings.py": "from tasks.wh.names import KINDS\n",
            "tasks/wh/__init__.py": "from tasks.wh.factory import open_wh\n",
            "tasks/wh/names.py": "KINDS = ()\n",
            "tasks/wh/factory.py": "from tasks.settings import get\n",
        },
    )
    assert find_cycle(import_graph(root)) == [
        "tasks.settings",
        "tasks.wh",
        "tasks.wh.factory",
        "tasks.settings",
    ]
    (root / "tasks/wh/factory.py").write_text("open_wh = None\n", encoding="utf-8")
    assert find_cycle(import_graph(root)) is None


def test_a_database_import_outside_the_package_is_found(tmp_path):
    root = _plant(
        tmp_path,
        {
            "tasks/__init__.py": "",
            "tasks/warehouse/__init__.py": "import sqlalchemy\n",  # allowed here
            "tasks/steps.py": "def f():\n    from sqlalchemy import exc\n",
            "flows/run.py": "import adbc_driver_postgresql.dbapi\n",
            "deployments/x.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    import duckdb\n",  # never executed: not counted
        },
    )
    assert database_imports(root) == [
        "flows.run:1 imports adbc_driver_postgresql.dbapi",
        "tasks.steps:2 imports sqlalchemy",
        "tasks.steps:2 imports sqlalchemy.exc",
    ]


def test_kind_dispatch_is_found(tmp_path):
    root = _plant(
        tmp_path,
        {
            "tasks/steps.py": (
                "def f(warehouse, kind, settings):\n"
                "    if warehouse.kind == 'duckdb':\n"
                "        pass\n"
                "    if kind in ('postgresql', 'redshift'):\n"
                "        pass\n"
                "    if settings.warehouse_kind != 'redshift':\n"
                "        pass\n"
                "    if isinstance(warehouse, DuckDBWarehouse):\n"
                "        pass\n"
                "    if kind == 'date':\n"  # a column's kind: no warehouse dispatch
                "        pass\n"
            ),
            "tasks/warehouse/factory.py": "def pick(kind):\n    return kind == 'duckdb'\n",
        },
    )
    assert kind_dispatch(root) == [
        "tasks.steps:2 warehouse.kind == 'duckdb'",
        "tasks.steps:4 kind in ('postgresql', 'redshift')",
        "tasks.steps:6 settings.warehouse_kind != 'redshift'",
        "tasks.steps:8 isinstance(warehouse, DuckDBWarehouse)",
    ]


# Logic modules whose Prefect task wrappers live in tasks/prefect_tasks/.
PLAIN_MODULES = [
    "tasks.training",
    "tasks.features",
    "tasks.scoring",
    "tasks.knobs",
    "tasks.feature_store",
    "tasks.model_store",
    "tasks.source_checks",
    "tasks.backfill",
    "tasks.calibration",
    "tasks.model_card",
    "tasks.health",
    "tasks.reasons",
    "tasks.registry",
    "tasks.reporting",
    "tasks.results",
    "tasks.run_report",
    "tasks.monitoring",
]
FIRST_PREFECT_IMPORTER = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
    if "prefect" in sys.modules:
        print(json.dumps(name))
        break
else:
    print(json.dumps(None))
"""


def first_prefect_importer(names: list[str]) -> str | None:
    """Import the modules in turn in one fresh interpreter: the first after which Prefect is
    loaded, or None."""
    import json
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", FIRST_PREFECT_IMPORTER, *names],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def all_plain_modules() -> str | None:
    return first_prefect_importer(PLAIN_MODULES)


@pytest.mark.parametrize("module", PLAIN_MODULES)
@pytest.mark.cli
def test_plain_logic_imports_without_prefect(module, all_plain_modules):
    """The logic modules are plain functions (their @task wrappers live in
    tasks/prefect_tasks/): importable and testable without Prefect. One interpreter imports
    them all; when one of them loads Prefect, each is then checked in its own."""
    if all_plain_modules is not None:
        assert first_prefect_importer([module]) is None


@pytest.mark.cli
def test_a_run_id_outside_a_flow_run_loads_no_prefect():
    """tasks/source_issues.current_run_id outside a flow run: a `local-` id, and Prefect still
    unimported (inside a run it is the run's id: tests/flows/test_nightly.py)."""
    import subprocess
    import sys

    code = (
        "import sys; from tasks.source_issues import current_run_id; "
        "print(current_run_id().startswith('local-'), 'prefect' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True", "False"]
