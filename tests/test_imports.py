"""The package's import structure, read from the source (ast), not by importing it:
no import circles, no private (`_name`) import across modules, no import from a higher layer.
Imports inside functions count: a lazy import is still a dependency."""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "speechbudget"

# lowest first; a module may import only from its own layer or below (DEVELOPERS.md)
LAYERS = [{"records", "machine", "audio", "log_mel", "architectures", "axes", "pareto_core",
           "adaptation", "geometry", "errors", "paired", "memory", "typed_numbers"},
          {"models", "datasets"}, {"flops"}, {"tasks"}, {"whisper_model", "batched_pipeline"},
          {"sweep"}, {"analysis"}, {"report"}, {"demo"}, {"cli"}]

# violations other issues own and remove; each must still exist (else delete it here)
KNOWN_CYCLES: dict[frozenset[str], str] = {}
KNOWN_PRIVATE = {
}
KNOWN_UPWARD: dict[tuple[str, str], str] = {}


def modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = p.relative_to(PKG.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


def imports(mods: dict[str, Path]) -> tuple[dict[str, set[str]], list[tuple[str, str]]]:
    """module -> package modules it imports; (module, 'pkg.mod._name') private imports."""
    edges: dict[str, set[str]] = {m: set() for m in mods}
    private: list[tuple[str, str]] = []
    for name, path in mods.items():
        pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                if mod.split(".")[0] != "speechbudget":
                    continue
                for a in node.names:
                    full = f"{mod}.{a.name}"
                    edges[name].add(full if full in mods else mod)
                    if a.name.startswith("_") and not a.name.startswith("__") and mod != name:
                        private.append((name, full))
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == "speechbudget":
                        edges[name].add(a.name)
    return {k: {v for v in vs if v in mods and v != k} for k, vs in edges.items()}, private


def cycles(edges: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[frozenset[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = set()
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.add(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(frozenset(comp))
    return out


def layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None  # the package's __init__ re-exports
    return next((i for i, names in enumerate(LAYERS) if parts[1] in names), None)


def upward(edges: dict[str, set[str]]) -> set[tuple[str, str]]:
    out = set()
    for a, bs in edges.items():
        for b in bs:
            la, lb = layer(a), layer(b)
            if la is not None and lb is not None and lb > la:
                out.add((a, b))
    return out


MODS = modules()
EDGES, PRIVATE = imports(MODS)


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_every_top_level_module_has_a_layer():
    tops = {m.split(".")[1] for m in MODS if "." in m}
    assert tops <= set().union(*LAYERS), tops - set().union(*LAYERS)


def test_no_import_circles_in_sweep():
    assert [c for c in cycles(EDGES) if any(m.startswith("speechbudget.sweep") for m in c)] == []


def test_no_new_import_circles():
    assert {c for c in cycles(EDGES)} - set(KNOWN_CYCLES) == set()


def test_no_new_private_imports_across_modules():
    assert set(PRIVATE) - set(KNOWN_PRIVATE) == set()


def test_no_new_upward_layer_imports():
    assert upward(EDGES) - set(KNOWN_UPWARD) == set()


def test_the_upward_finder_finds_flops_importing_tasks():
    assert upward({"speechbudget.flops.measure": {"speechbudget.tasks.ser.heads"},
                   "speechbudget.tasks.ser.heads": {"speechbudget.flops.measure"}}) == {
        ("speechbudget.flops.measure", "speechbudget.tasks.ser.heads")}


def test_no_known_violations_left():
    assert not (set(cycles(EDGES)) & set(KNOWN_CYCLES))
    assert not (set(PRIVATE) & set(KNOWN_PRIVATE))
    assert not (upward(EDGES) & set(KNOWN_UPWARD))
