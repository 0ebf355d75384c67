"""Callers take the adaptation's names from the module that defines them: `AdapterError`,
`DistillOptions` (adapt_options), the adapter-file helpers (adapter_files), ... are imported by
`tasks.asr.adapt` for its own use, and reading them through it (a re-export) hides where they
live and ties the caller to adapt's imports. Read from the source (ast), not by importing."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ADAPT = "speechbudget.tasks.asr.adapt"


def defined(path: Path) -> set[str]:
    """Top-level names a module defines itself (def, class, assignment)."""
    out: set[str] = set()
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            out |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return out


def reexported_uses(source: str, filename: str, own: set[str]) -> list[str]:
    """'LINE: NAME' for each name of `ADAPT` that `source` reads though ADAPT does not define it."""
    tree = ast.parse(source, filename)
    aliases: set[str] = set()
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == ADAPT:
            bad += [f"{node.lineno}: {a.name}" for a in node.names if a.name not in own]
        elif isinstance(node, ast.ImportFrom) and node.module == ADAPT.rpartition(".")[0]:
            aliases |= {a.asname or a.name for a in node.names if a.name == "adapt"}
        elif isinstance(node, ast.Import):
            aliases |= {a.asname for a in node.names if a.name == ADAPT and a.asname}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in aliases and node.attr not in own:
            bad.append(f"{node.lineno}: {node.attr}")
    return bad


def test_the_finder_finds_a_reexported_name():
    own = {"distill"}
    src = ("from speechbudget.tasks.asr import adapt as ad\n"
           "from speechbudget.tasks.asr.adapt import AdapterError, distill\n"
           "ad.distill(ad.DistillOptions())\n")
    assert reexported_uses(src, "x.py", own) == ["2: AdapterError", "3: DistillOptions"]


def test_no_caller_reads_a_name_through_adapt():
    own = defined(ROOT / "speechbudget" / "tasks" / "asr" / "adapt.py")
    assert {"distill", "prepare", "train_adapter"} <= own
    found = []
    for top in ("speechbudget", "tests", "benchmarks", "scripts", "examples"):
        for p in sorted((ROOT / top).rglob("*.py")):
            if ".venv" in p.parts:
                continue
            found += [f"{p.relative_to(ROOT)}:{b}" for b in reexported_uses(p.read_text(), str(p),
                                                                             own)]
    assert found == []
