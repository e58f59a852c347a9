"""The import graph of server/, signaling/ and bench/, read statically (``ast``): the layering in one place,
no cycle between modules, and no adapter reaching into another module's private parts.

Layers, inner to outer; a module imports only from its own layer or an inner one:

    domain  <-  use cases  <-  adapters  <-  composition root

- domain: the rules, plain Python (server/domain/; tests/test_domain.py also keeps transports out of it);
- use cases: what the product does, and the stores and the media relay they drive (server/db/, server/media/,
  Floor, QuestionDesk, ParticipantModeration, ...); they tell the outside world through notifier interfaces
  they define;
- adapters: Socket.IO (signaling/), HTTP views, WHIP/WHEP, metrics, and what they share (keys, http_base);
- composition root: server/wiring.py builds the use cases once and hands them to the adapters; server/app.py
  and the command line start it.

bench/ may use any of them, never tests/; nothing in server/ or signaling/ imports bench/.

Every import is an edge, wherever it is written: at the top of a module, inside a function (deferred only to
save start-up time, it is still a dependency) or under ``if TYPE_CHECKING:`` (a type names what the module
depends on; hiding the import does not make the dependency go the other way). Importing ``a.b.c`` also
runs the package ``a/__init__.py``s, which hold nothing but docstrings and a version: those edges are left
out.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("server", "signaling", "bench")

DOMAIN, USE_CASES, ADAPTERS, ROOT_LAYER, TOOLS = range(5)
LAYER_NAMES = {
    DOMAIN: "domain",
    USE_CASES: "use cases",
    ADAPTERS: "adapters",
    ROOT_LAYER: "composition root",
    TOOLS: "bench",
}

# The one statement of the layering: the most specific prefix of a module's name gives its layer.
LAYERS: dict[str, int] = {
    "server": DOMAIN,  # the package itself: a docstring and the version
    "server.domain": DOMAIN,
    "server.db": USE_CASES,
    "server.migrations": USE_CASES,
    "server.media": USE_CASES,
    "server.service": USE_CASES,
    "server.floor": USE_CASES,
    "server.desk": USE_CASES,
    "server.standing": USE_CASES,
    "server.moderation": USE_CASES,
    "server.captions": USE_CASES,
    "server.reports": USE_CASES,
    "server.report_words": USE_CASES,
    "server.agenda": USE_CASES,
    "server.limits": USE_CASES,
    "server.tokens": USE_CASES,
    "server.settings": USE_CASES,
    "server.webfiles": USE_CASES,
    "server.media_load": USE_CASES,
    "server.demo": USE_CASES,
    "server.usecases": USE_CASES,
    # The help desk (issue 24).
    "server.helpdesk": USE_CASES,
    # live polls (issue 24)
    "server.polls": USE_CASES,
    # recording (issue 22)
    "server.recording": USE_CASES,
    # The session archive (issue 22).
    "server.archive": USE_CASES,
    "server.archive_storage": USE_CASES,
    # statements sent in advance (issue 21)
    "server.statements": USE_CASES,
    "signaling": ADAPTERS,
    "server.keys": ADAPTERS,
    "server.http_base": ADAPTERS,
    "server.api": ADAPTERS,
    "server.organiser": ADAPTERS,
    "server.openapi": ADAPTERS,
    "server.media_http": ADAPTERS,
    "server.recording_http": ADAPTERS,
    "server.statement_http": ADAPTERS,
    "server.media_forward": ADAPTERS,
    "server.metrics": ADAPTERS,
    "server.logs": ADAPTERS,
    "server.collector": ADAPTERS,
    "server.archive_http": ADAPTERS,
    "server.wiring": ROOT_LAYER,
    "server.app": ROOT_LAYER,
    "server.cli": ROOT_LAYER,
    "server.__main__": ROOT_LAYER,
    "bench": TOOLS,
}

# The HTTP views: the Socket.IO adapter shares code with them through modules of their own (keys, http_base,
# media_forward), never by importing one of them.
HTTP_VIEWS = {
    "server.api",
    "server.organiser",
    "server.openapi",
    "server.media_http",
    "server.metrics",
    "server.archive_http",
    "server.statement_http",
}

# Modules whose job is to reach into a library's internals, each written down at the top of the module:
# engine.io's and aiohttp's (signaling/wsdirect.py), python-socketio's Redis manager (signaling/fanout.py).
LIBRARY_SEAMS = {"signaling.wsdirect", "signaling.fanout"}

# Transports the use cases and the domain never import: they are told through notifier interfaces.
TRANSPORTS = {"aiohttp", "socketio", "engineio"}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    how: str  # "top", "function" or "type-checking"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in (*PACKAGES, "tests"):
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


MODULES = modules()


def layer_of(module: str) -> int:
    prefix = module
    while prefix:
        if prefix in LAYERS:
            return LAYERS[prefix]
        prefix = prefix.rpartition(".")[0]
    raise AssertionError(f"{module} has no layer: add it to LAYERS in tests/test_imports.py")


def resolve(name: str) -> str | None:
    """The project module an imported name lives in (``server.floor.Floor`` -> ``server.floor``)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, how: str = "top") -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, how
        elif isinstance(node, ast.If) and _type_checking(node):
            for child in node.body:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), "type-checking")
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), how)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _imports(node, "function")
        else:
            yield from _imports(node, how)


def absolute(module: str, node: ast.ImportFrom) -> str:
    """What a `from ... import` reads from, as an absolute name."""
    if not node.level:
        return node.module or ""
    anchor = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        anchor = anchor.rpartition(".")[0]
    return f"{anchor}.{node.module}" if node.module else anchor


def edges_of(module: str) -> Iterator[Edge]:
    path = MODULES[module]
    for node, how in _imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = absolute(module, node)
            # `from package import module` names the module; `from module import name`, the module.
            targets = [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            found = resolve(target)
            if found is None or found == module or found in PACKAGES:
                continue
            yield Edge(module, found, node.lineno, how)


def graph() -> dict[str, list[Edge]]:
    return {module: list(edges_of(module)) for module in MODULES if not module.startswith("tests")}


def cycles(edges: dict[str, list[Edge]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted({e.target for e in edges[start]})))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in edges:
                    continue  # tests/: checked separately
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted({e.target for e in edges[child]}))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


GRAPH = graph()


def describe(edge: Edge) -> str:
    return f"{edge.source} -> {edge.target} ({MODULES[edge.source].name}:{edge.line}, {edge.how})"


def test_the_graph_is_read() -> None:
    """The reader finds what is known to be there, in each of the three ways of writing an import."""
    hub = {(e.target, e.how) for e in GRAPH["signaling.hub"]}
    assert ("server.usecases", "top") in hub and ("signaling.connections", "top") in hub
    assert ("signaling.hub", "type-checking") in {(e.target, e.how) for e in GRAPH["server.metrics"]}
    assert ("server.app", "function") in {(e.target, e.how) for e in GRAPH["server.cli"]}
    assert {"server.domain.queue", "signaling.pacing", "bench.tracks"} <= set(GRAPH)


def test_the_cycle_finder_finds_cycles() -> None:
    def edge(source: str, target: str) -> Edge:
        return Edge(source, target, 1, "top")

    loop = {"a": [edge("a", "b")], "b": [edge("b", "c")], "c": [edge("c", "a")], "d": [edge("d", "a")]}
    assert cycles(loop) == [["a", "b", "c"]]
    assert cycles({"a": [edge("a", "b")], "b": []}) == []


def test_no_import_cycle() -> None:
    assert cycles(GRAPH) == [], "modules that import one another, directly or around a loop"


def test_every_module_has_a_layer_and_imports_only_inward() -> None:
    wrong = [
        f"{describe(e)}: {LAYER_NAMES[layer_of(e.source)]} layer -> {LAYER_NAMES[layer_of(e.target)]} layer"
        for edges in GRAPH.values()
        for e in edges
        if not e.target.startswith("tests") and layer_of(e.target) > layer_of(e.source)
    ]
    assert wrong == []


def test_bench_never_imports_tests_and_the_product_never_imports_bench() -> None:
    wrong = [
        describe(e)
        for edges in GRAPH.values()
        for e in edges
        if e.target.startswith("tests") or (e.target.startswith("bench") and not e.source.startswith("bench"))
    ]
    assert wrong == []


def test_the_socketio_adapter_imports_no_http_view() -> None:
    wrong = [
        describe(e)
        for module, edges in GRAPH.items()
        if module.startswith("signaling")
        for e in edges
        if e.target in HTTP_VIEWS
    ]
    assert wrong == []


def test_domain_and_use_cases_import_no_transport() -> None:
    wrong = []
    for module, path in MODULES.items():
        if module.startswith("tests") or layer_of(module) > USE_CASES:
            continue
        for node, how in _imports(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if node.level == 0
                else []
            )
            wrong += [
                f"{module}:{node.lineno} imports {n} ({how})" for n in names if n.split(".")[0] in TRANSPORTS
            ]
    assert wrong == []


def test_adapters_use_no_private_part_of_another_module() -> None:
    """Adapters and the root use each other's public names only: no `from x import _y`, no `obj._y` on
    anything but self (a sibling that needs something gets a small public method or property)."""
    wrong = []
    for module, path in MODULES.items():
        if module.startswith(("tests", "bench")) or layer_of(module) < ADAPTERS or module in LIBRARY_SEAMS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and resolve(absolute(module, node)):
                wrong += [
                    f"{module}:{node.lineno} imports {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                wrong.append(f"{module}:{node.lineno} reads {ast.unparse(node)}")
    assert wrong == []


def test_every_public_class_of_the_use_cases_says_what_it_is() -> None:
    """A newcomer reads what a use case, a store or a record is from its docstring (server/, not the
    migrations, which Alembic writes)."""
    missing = [
        f"{module}:{node.lineno} {node.name}"
        for module, path in MODULES.items()
        if module.startswith("server")
        and not module.startswith("server.migrations")
        and layer_of(module) == USE_CASES
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_") and not ast.get_docstring(node)
    ]
    assert missing == [], "public classes of the use-case layer without a docstring"
