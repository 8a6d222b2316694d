"""The layer rules, read from the source (AST, no imports run).

Imports go one way: policy -> wire -> storage, providers -> actions -> api, worker, web, cli. On top of
that direction (docs/architecture.md):

- ``storage-only``: only ``carewindow/storage/**`` (its migrations included) imports the table
  definitions, the bulk and direct statement modules, SQLAlchemy or a database driver. Other layers take
  the ``Engine``/``Connection`` type names and ``connect`` from ``carewindow.storage.engine`` and the
  error tree from ``carewindow.storage.errors``.
- ``write-tx``: only actions/ and storage/ open write transactions: ``write_tx``, ``retry_tx``,
  ``HeldConnection(...)``, ``.begin()``, ``GroupCommitter(...)``. Other layers may hold (and type) a
  committer that an actions factory made (``send_committer``, ``ingest_committer``).
- ``private``: no module imports a private module or name (a segment starting with ``_``) of another
  top-level carewindow package (wire importing ``carewindow.policy._fast`` is forbidden; policy
  importing its own ``_fast`` is fine).
- ``dialect``: no dialect switch outside storage (``is_sqlite``, ``dialect_insert``, branching on
  ``.dialect.name``); reporting the name (a health answer) is not a switch.
- ``driver-errors``: no ``sqlalchemy.exc`` outside storage: storage translates them
  (``carewindow.storage.errors``).

Relative imports are resolved to absolute ones before any rule sees them. Run this file as a script
(``python tests/test_layers.py``) to print every violation of the tree as ``file:line: [rule] what``.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "carewindow"

# What each layer may import from carewindow (besides itself).
ALLOWED: dict[str, set[str]] = {
    "policy": set(),
    "wire": {"policy"},
    "storage": {"policy", "wire"},
    "providers": {"policy", "wire"},
    "actions": {"policy", "wire", "storage", "providers", "settings"},
    "worker": {"policy", "wire", "storage", "providers", "actions", "settings"},
    # gc_tuning: process settings for the long-running entry points (serve, worker, sandbox).
    "api": {"policy", "wire", "storage", "providers", "actions", "settings", "worker", "web", "gc_tuning"},
    "web": {"policy", "wire", "storage", "providers", "actions", "settings"},
    "cli": {
        "policy",
        "wire",
        "storage",
        "providers",
        "actions",
        "settings",
        "worker",
        "api",
        "web",
        "gc_tuning",
    },
}
POLICY_THIRD_PARTY = {"phonenumbers"}

# Modules only storage/ may import (a name equal to one of these or below it).
STORAGE_ONLY_MODULES = (
    "carewindow.storage.tables",
    "carewindow.storage.bulk",
    "carewindow.storage.direct",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "sqlite3",
)
WRITE_LAYERS = {"actions", "storage"}
WRITE_FUNCTIONS = {"write_tx", "retry_tx"}  # any reference (import, call, passing it on)
WRITE_CONSTRUCTORS = {"HeldConnection", "GroupCommitter"}  # construction; the type name is fine
WRITE_METHODS = {"begin", "begin_nested"}
DIALECT_FUNCTIONS = {"is_sqlite", "dialect_insert"}


@dataclass(frozen=True, order=True)
class Violation:
    path: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.rule}] {self.message}"


@dataclass(frozen=True)
class Imported:
    """One imported name, absolute: ``module`` for ``import module``; for ``from module import name``
    both ``module`` and ``module.name`` (the name may be a submodule or an attribute)."""

    line: int
    module: str
    name: str | None  # the alias of a ``from`` import

    @property
    def full(self) -> str:
        return f"{self.module}.{self.name}" if self.name else self.module

    def candidates(self) -> tuple[str, ...]:
        return (self.module, self.full) if self.name else (self.module,)


def module_of(path: Path, root: Path = ROOT) -> tuple[str, bool]:
    """The dotted module name of a file under the repository root, and whether it is a package."""
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module of a ``from`` import (``from ..x import y`` inside ``a.b.c`` -> ``a.x``)."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level - 1 > len(base) - 1:
        raise ValueError(f"relative import beyond the top package in {module}")
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(tree: ast.AST, module: str, is_package: bool) -> Iterator[Imported]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield Imported(node.lineno, a.name, None)
        elif isinstance(node, ast.ImportFrom):
            target = resolve(module, is_package, node)
            for a in node.names:
                yield Imported(node.lineno, target, None if a.name == "*" else a.name)


def layer_of(module: str) -> str:
    """The top-level carewindow package (``carewindow.api.routes.x`` -> ``api``); '' for others."""
    parts = module.split(".")
    if parts[0] != "carewindow" or len(parts) < 2 or parts[1].startswith("__"):
        return ""  # not carewindow, the package itself, or one of its dunders (``__version__``)
    return parts[1]


def _is_private(segment: str) -> bool:
    dunder = segment.startswith("__") and segment.endswith("__")
    return segment.startswith("_") and not dunder


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _name(node: ast.AST) -> str | None:
    """The called or referenced name: ``f`` for ``f``, ``attr`` for ``x.attr``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _is_dialect_name(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "name"
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "dialect"
    )


def _switch_operands(tree: ast.AST) -> Iterator[ast.AST]:
    """Expressions a program branches on or picks by: compared, tested, negated, matched, used as a
    key or looked up with ``.get``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            yield node.left
            yield from node.comparators
        elif isinstance(node, ast.If | ast.IfExp | ast.While | ast.Assert):
            yield node.test
        elif isinstance(node, ast.BoolOp):
            yield from node.values
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node.operand
        elif isinstance(node, ast.Match):
            yield node.subject
        elif isinstance(node, ast.Subscript):
            yield node.slice
        elif isinstance(node, ast.Call) and _name(node.func) == "get":
            yield from node.args


def check_source(source: str, module: str, is_package: bool = False, path: str = "") -> list[Violation]:
    """Every rule's violations in one module's source."""
    path = path or module.replace(".", "/") + ("/__init__.py" if is_package else ".py")
    tree = ast.parse(source)
    layer = layer_of(module)
    found: set[Violation] = set()

    def report(line: int, rule: str, message: str) -> None:
        found.add(Violation(path, line, rule, message))

    sqlalchemy_aliases = set()
    storage_only: dict[tuple[int, str, str], list[str]] = {}  # one report per import statement
    for imp in imports_of(tree, module, is_package):
        names = imp.candidates()
        # layers: imports point inwards (migrations are storage's own scripts)
        if layer in ALLOWED and "migrations" not in module.split("."):
            for name in names:
                other = layer_of(name)
                if other and other != layer and other not in ALLOWED[layer]:
                    report(imp.line, "layers", f"{layer} imports {name}")
            top = imp.module.split(".")[0]
            stdlib = top in sys.stdlib_module_names or top == "__future__"
            if (
                layer == "policy"
                and top
                and top != "carewindow"
                and not (stdlib or top in POLICY_THIRD_PARTY)
            ):
                report(imp.line, "layers", f"policy may not import {imp.module}")
        if layer != "storage":
            hit = next((m for m in STORAGE_ONLY_MODULES for n in names if _under(n, m)), None)
            if hit is not None:
                storage_only.setdefault((imp.line, imp.module, hit), []).append(imp.name or "")
            if any(_under(n, "sqlalchemy.exc") for n in names):
                report(imp.line, "driver-errors", f"imports {imp.full}: catch carewindow.storage.errors")
            if imp.name in DIALECT_FUNCTIONS:
                report(imp.line, "dialect", f"imports {imp.name}: a dialect switch belongs in storage/")
        if layer not in WRITE_LAYERS and imp.name in WRITE_FUNCTIONS:
            report(imp.line, "write-tx", f"imports {imp.name}: only actions/ and storage/ write")
        # private: another top-level package's private module or name
        if imp.module.split(".")[0] == "carewindow" and layer_of(imp.full) != layer:
            segments = imp.full.split(".")
            if any(_is_private(s) for s in segments[1:]):
                report(imp.line, "private", f"imports {imp.full}, private to carewindow.{layer_of(imp.full)}")
        if imp.name is None and imp.module == "sqlalchemy":
            sqlalchemy_aliases.add("sqlalchemy")
    for (line, imported, hit), names in storage_only.items():
        what = f"{', '.join(n for n in names if n)} from {imported}" if any(names) else imported
        report(line, "storage-only", f"imports {what}: only storage/ may import {hit}")
    for node in ast.walk(tree):  # `import sqlalchemy as sa`
        if isinstance(node, ast.Import):
            sqlalchemy_aliases.update(a.asname for a in node.names if a.name == "sqlalchemy" and a.asname)

    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if layer not in WRITE_LAYERS:
            if isinstance(node, ast.Name | ast.Attribute) and _name(node) in WRITE_FUNCTIONS:
                report(line, "write-tx", f"uses {_name(node)}: only actions/ and storage/ write")
            if isinstance(node, ast.Call):
                called = _name(node.func)
                if called in WRITE_CONSTRUCTORS:
                    report(line, "write-tx", f"constructs {called}: use an actions factory")
                if called in WRITE_METHODS and isinstance(node.func, ast.Attribute):
                    report(line, "write-tx", f"calls .{called}(): only actions/ and storage/ write")
        if layer != "storage":
            if isinstance(node, ast.Name | ast.Attribute) and _name(node) in DIALECT_FUNCTIONS:
                report(line, "dialect", f"uses {_name(node)}: a dialect switch belongs in storage/")
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "exc"
                and isinstance(node.value, ast.Name)
                and node.value.id in sqlalchemy_aliases
            ):
                report(line, "driver-errors", f"uses {node.value.id}.exc: catch carewindow.storage.errors")
    if layer != "storage":
        for operand in _switch_operands(tree):
            for sub in ast.walk(operand):
                if _is_dialect_name(sub):
                    report(
                        getattr(sub, "lineno", 0), "dialect", "branches on .dialect.name: belongs in storage/"
                    )
    return sorted(found)


def package_files(root: Path = ROOT) -> list[Path]:
    return sorted((root / "carewindow").rglob("*.py"))


def check_file(path: Path, root: Path = ROOT) -> list[Violation]:
    module, is_package = module_of(path, root)
    return check_source(path.read_text(), module, is_package, str(path.relative_to(root)))


def tree_violations(rule: str) -> list[Violation]:
    return [v for p in package_files() for v in check_file(p) if v.rule == rule]


# --------------------------------------------------------------------------------- the tree


@pytest.mark.parametrize("path", package_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_inwards(path: Path) -> None:
    bad = [str(v) for v in check_file(path) if v.rule == "layers"]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("rule", ["storage-only", "write-tx", "private", "dialect", "driver-errors"])
def test_rule_holds_on_the_tree(rule: str) -> None:
    bad = [str(v) for v in tree_violations(rule)]
    assert not bad, f"{len(bad)} violation(s):\n" + "\n".join(bad)


def test_the_checker_sees_the_whole_package() -> None:
    modules = {module_of(p)[0] for p in package_files()}
    assert {"carewindow.api.runtime", "carewindow.policy", "carewindow.storage.engine"} <= modules
    assert len(modules) > 80


# --------------------------------------------------------------------------------- the checker itself

# (importing module, source, the rule it breaks): each kind of violation, on a small snippet.
BAD: list[tuple[str, str, str]] = [
    ("carewindow.wire.webhook", "from carewindow.storage import engine\n", "layers"),
    ("carewindow.policy.window", "from ..storage.engine import connect\n", "layers"),
    ("carewindow.policy.window", "import httpx\n", "layers"),
    ("carewindow.storage.messages", "from carewindow import actions\n", "layers"),
    ("carewindow.api.routes.contacts", "from carewindow.storage.tables import contacts\n", "storage-only"),
    ("carewindow.api.routes.contacts", "from carewindow.storage import tables\n", "storage-only"),
    ("carewindow.api.routes.contacts", "from ...storage import tables\n", "storage-only"),
    ("carewindow.actions.send", "from .. storage.bulk import insert_many\n", "storage-only"),
    ("carewindow.actions.ingest", "from carewindow.storage.direct import execute\n", "storage-only"),
    ("carewindow.web.queries", "from sqlalchemy import select\n", "storage-only"),
    ("carewindow.web.queries", "import sqlalchemy as sa\n", "storage-only"),
    ("carewindow.api.auth", "from sqlalchemy import Engine\n", "storage-only"),
    ("carewindow.worker.delivery", "from sqlalchemy.dialects.postgresql import insert\n", "storage-only"),
    ("carewindow.cli.main", "import psycopg\n", "storage-only"),
    ("carewindow.api.routes.keys", "from carewindow.storage.engine import write_tx\n", "write-tx"),
    (
        "carewindow.cli.main",
        "def f(e):\n    from ..storage import engine\n    engine.write_tx(e)\n",
        "write-tx",
    ),
    ("carewindow.worker.delivery", "def f(e):\n    return lambda: retry_tx(e, g)\n", "write-tx"),
    ("carewindow.api.runtime", "c = GroupCommitter(engine, work, name='ingest')\n", "write-tx"),
    ("carewindow.api.runtime", "c = group_commit.GroupCommitter(engine, work)\n", "write-tx"),
    ("carewindow.web.routes", "h = HeldConnection(engine)\n", "write-tx"),
    ("carewindow.web.session", "with engine.begin() as conn:\n    pass\n", "write-tx"),
    ("carewindow.worker.housekeeping", "with conn.begin_nested():\n    pass\n", "write-tx"),
    ("carewindow.wire.webhook", "from carewindow.policy._fast import fast_constructor\n", "private"),
    ("carewindow.wire.webhook", "from ..policy import _fast\n", "private"),
    ("carewindow.storage.contacts", "import carewindow.policy._time\n", "private"),
    ("carewindow.actions.send", "from carewindow.policy.decision import _make_message\n", "private"),
    ("carewindow.actions.send_batch", "from carewindow.storage.engine import is_sqlite\n", "dialect"),
    ("carewindow.api.runtime", "def f(e):\n    if e.dialect.name == 'sqlite':\n        pass\n", "dialect"),
    ("carewindow.api.runtime", "x = a if conn.dialect.name != 'postgresql' else b\n", "dialect"),
    ("carewindow.api.runtime", "x = {'sqlite': 1}[engine.dialect.name]\n", "dialect"),
    ("carewindow.web.queries", "x = OPTIONS.get(engine.dialect.name)\n", "dialect"),
    ("carewindow.web.queries", "def f(c):\n    return storage_engine.is_sqlite(c)\n", "dialect"),
    ("carewindow.api.errors", "from sqlalchemy.exc import OperationalError\n", "driver-errors"),
    ("carewindow.actions.send", "from sqlalchemy import exc\n", "driver-errors"),
    (
        "carewindow.actions.send",
        "import sqlalchemy\ntry:\n    f()\nexcept sqlalchemy.exc.DBAPIError:\n    pass\n",
        "driver-errors",
    ),
    (
        "carewindow.actions.send",
        "import sqlalchemy as sa\ntry:\n    f()\nexcept sa.exc.IntegrityError:\n    pass\n",
        "driver-errors",
    ),
]

# Legitimate code each rule must let through.
GOOD: list[tuple[str, str]] = [
    ("carewindow.api.app", "from __future__ import annotations\n"),
    ("carewindow.api.deps", "from carewindow.storage.engine import Connection, Engine, connect\n"),
    ("carewindow.web.session", "from carewindow.storage.engine import connect\nconn = connect(engine)\n"),
    ("carewindow.api.errors", "from carewindow.storage.errors import Conflict, StorageError, Unavailable\n"),
    ("carewindow.api.errors", "from carewindow.storage import errors\n"),
    ("carewindow.api.runtime", "from carewindow.actions.send import send_committer\ns = send_committer(e)\n"),
    (
        "carewindow.api.runtime",
        "from carewindow.actions.ingest import ingest_committer\ni = ingest_committer(e)\n",
    ),
    (
        "carewindow.api.runtime",
        "from carewindow.storage.group_commit import GroupCommitter\nsends: GroupCommitter[SendJob, Any]\n",
    ),
    ("carewindow.api.routes.health", "d = {'database': rt.engine.dialect.name}\n"),
    (
        "carewindow.api.routes.health",
        "def f(rt):\n    return {'status': 'ok', 'database': rt.engine.dialect.name}\n",
    ),
    ("carewindow.api.routes.tickets", "from carewindow.api.routes.messages import _ref\n"),
    ("carewindow.policy.decision", "from carewindow.policy._fast import fast_constructor\n"),
    ("carewindow.policy.pricing.base", "from .._time import require_aware\n"),
    ("carewindow.wire.webhook", "from dataclasses import field as _field\n"),
    ("carewindow.wire.webhook", "from carewindow import __version__\n"),
    ("carewindow.storage.messages", "from sqlalchemy import select\nfrom .tables import messages\n"),
    ("carewindow.storage.engine", "import sqlalchemy.exc\nfrom sqlalchemy import exc\n"),
    ("carewindow.storage.group_commit", "c = GroupCommitter(e, w)\nwith write_tx(e):\n    pass\n"),
    ("carewindow.storage.contacts", "from carewindow.storage.engine import is_sqlite\nx = is_sqlite(c)\n"),
    ("carewindow.storage.migrations.versions.0001_x", "from alembic import op\nimport sqlalchemy as sa\n"),
    (
        "carewindow.actions.send",
        "from carewindow.storage.engine import write_tx\nwith write_tx(e):\n    pass\n",
    ),
    (
        "carewindow.actions.send",
        "h = HeldConnection(e)\nc = GroupCommitter(e, w)\nwith e.begin():\n    pass\n",
    ),
    ("carewindow.actions.send", "from carewindow.storage import messages as message_store\n"),
    ("carewindow.web.live", "async def f(q):\n    await q.get()\n"),
]


@pytest.mark.parametrize(
    ("module", "source", "rule"), BAD, ids=[f"{r}:{m}:{i}" for i, (m, _, r) in enumerate(BAD)]
)
def test_checker_catches(module: str, source: str, rule: str) -> None:
    found = check_source(source, module)
    assert rule in {v.rule for v in found}, found
    v = next(v for v in found if v.rule == rule)
    assert v.line >= 1 and v.path.endswith(".py") and v.message
    assert str(v).startswith(f"{v.path}:{v.line}: [{rule}] ")


@pytest.mark.parametrize(("module", "source"), GOOD, ids=[f"{m}:{i}" for i, (m, _) in enumerate(GOOD)])
def test_checker_lets_legitimate_code_through(module: str, source: str) -> None:
    assert check_source(source, module) == []


def test_every_rule_has_a_snippet() -> None:
    assert {r for _, _, r in BAD} == {
        "layers",
        "storage-only",
        "write-tx",
        "private",
        "dialect",
        "driver-errors",
    }


def test_relative_imports_resolve() -> None:
    def target(module: str, is_package: bool, src: str) -> str:
        node = ast.parse(src).body[0]
        assert isinstance(node, ast.ImportFrom)
        return resolve(module, is_package, node)

    assert (
        target("carewindow.api.routes.contacts", False, "from ...storage import tables")
        == "carewindow.storage"
    )
    assert (
        target("carewindow.api.routes.contacts", False, "from . import messages") == "carewindow.api.routes"
    )
    assert (
        target("carewindow.api.routes", True, "from .messages import x") == "carewindow.api.routes.messages"
    )
    assert target("carewindow.api.routes", True, "from .. import deps") == "carewindow.api"
    assert target("carewindow.wire", True, "from carewindow.policy import x") == "carewindow.policy"
    with pytest.raises(ValueError, match="beyond"):
        target("carewindow.wire", True, "from ... import x")


def test_module_names() -> None:
    assert module_of(PACKAGE / "api" / "routes" / "__init__.py") == ("carewindow.api.routes", True)
    assert module_of(PACKAGE / "storage" / "tables.py") == ("carewindow.storage.tables", False)


if __name__ == "__main__":
    # python tests/test_layers.py [checkout]: the violations of a checkout (default: this one).
    root = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT
    every = [v for p in package_files(root) for v in check_file(p, root)]
    for v in every:
        print(v)
    print(f"{len(every)} violation(s)")
    sys.exit(1 if every else 0)
