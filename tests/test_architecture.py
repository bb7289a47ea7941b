"""The engine's shape, checked from its sources: dependencies point down only.

The import graph of src/mc is built from every `import` statement (lazy ones inside functions
included: they are dependencies all the same; imports only for type checkers excepted), between
packages: `mc.passes`, `mc.runtimes`, ... and each top-level module on its own.
"""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "mc"

# cli -> recipes -> passes -> {quantization, compilation, pruning, training} -> runtimes -> models, data -> leaves.
# Higher layers may import lower ones, never the other way round.
LAYERS = {
    "mc.recipes": 6, "mc.report": 5, "mc.passes": 5, "mc.bench": 4,
    "mc.quantization": 4, "mc.compilation": 4, "mc.pruning": 4, "mc.training": 4,
    "mc.evaluation": 3, "mc.timing": 3, "mc.pipeline": 3,
    "mc.runtimes": 2, "mc.models": 1, "mc.data": 1,
    "mc.remote": 5, "mc.packaging": 4,
}


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else module


def module_name(path: Path) -> str:
    relative = path.relative_to(SOURCE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module imported, names imported from it, line) for every runtime import in the file."""
    tree = ast.parse(path.read_text())
    skipped = {id(child) for node in ast.walk(tree) if _type_checking_block(node) for child in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names if alias.name.startswith("mc.") or alias.name == "mc"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("mc"):
            found.append((node.module, [alias.name for alias in node.names], node.lineno))
    return found


def graph() -> dict[str, dict[str, list[str]]]:
    """package -> {package it imports: ["file:line", ...]}"""
    edges: dict[str, dict[str, list[str]]] = {}
    for path in SOURCE.rglob("*.py"):
        source = package_of(module_name(path))
        for module, names, line in imports(path):
            targets = [module] if names == [] else [module] + [f"{module}.{name}" for name in names]
            for target in targets:
                target_package = package_of(target) if target.count(".") >= 1 else target
                if target_package == "mc" or target_package == source or not (SOURCE.parent / Path(*target_package.split("."))).exists() \
                        and not (SOURCE.parent / (Path(*target_package.split(".")).as_posix() + ".py")).exists():
                    continue
                edges.setdefault(source, {}).setdefault(target_package, []).append(f"{path.relative_to(SOURCE)}:{line}")
    return edges


def cycles(edges: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Strongly connected components of more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in edges.get(node, {}):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
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

    for node in list(edges):
        if node not in index:
            visit(node)
    return found


def test_the_package_import_graph_has_no_cycle():
    edges = graph()
    found = cycles(edges)
    detail = []
    for component in found:
        for source in component:
            for target in component:
                if target in edges.get(source, {}):
                    detail.append(f"{source} -> {target} ({edges[source][target][0]})")
    assert not found, "import cycles between packages:\n" + "\n".join(detail)


def test_dependencies_point_down_the_layers():
    upward = [f"{source} -> {target} ({where[0]})" for source, targets in graph().items() for target, where in targets.items()
              if source in LAYERS and target in LAYERS and LAYERS[target] > LAYERS[source]]
    assert not upward, "imports up the layers:\n" + "\n".join(upward)


def test_no_private_name_is_imported_across_packages():
    found = []
    for path in SOURCE.rglob("*.py"):
        source = package_of(module_name(path))
        for module, names, line in imports(path):
            if package_of(module) == source:
                continue
            private_module = any(part.startswith("_") and part != "__init__" for part in module.split("."))
            private_names = [name for name in names if name.startswith("_")]
            if private_module or private_names:
                found.append(f"{path.relative_to(SOURCE)}:{line}: from {module} import {', '.join(names)}")
    assert not found, "private names imported across packages:\n" + "\n".join(found)


def test_registries_import_none_of_their_entries():
    """The model and pass registries are filled by their entries' own modules; the packages import those."""
    for registry, package in ((SOURCE / "models" / "_registry.py", "mc.models"), (SOURCE / "passes" / "_registry.py", "mc.passes")):
        inside = [module for module, _, _ in imports(registry) if module.startswith(package + ".") and not module.split(".")[-1].startswith("_")]
        assert not inside, f"{registry.name} of {package} imports {inside}"


def test_every_package_is_installed():
    """pyproject.toml lists the packages by hand: a package missing there is missing from a wheel,
    and one listed but gone breaks a fresh install."""
    import tomllib

    listed = set(tomllib.loads((SOURCE.parents[1] / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {module_name(init.parent / "__init__.py") for init in SOURCE.rglob("__init__.py")}
    assert on_disk <= listed, f"packages missing from pyproject.toml: {sorted(on_disk - listed)}"
    assert {name for name in listed if name.startswith("mc.") or name == "mc"} <= on_disk, \
        f"pyproject.toml lists packages that do not exist: {sorted({n for n in listed if n.startswith('mc')} - on_disk)}"
