"""The house rules of docs/architecture.md, checked on every import in snnhw/ (an ``ast`` walk,
so nothing is imported to check it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "snnhw"


def _module(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """``(module, names, line)`` of every import in ``path``, relative ones made absolute."""
    mod = _module(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((target, [a.name for a in node.names], node.lineno))
    return out


def _sources() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


# (what imports, what it must not import, why)
FORBIDDEN = [
    ("snnhw.golden", "snnhw.gateware", "golden and gateware never import each other"),
    ("snnhw.gateware", "snnhw.golden", "golden and gateware never import each other"),
    ("snnhw.golden.blocks", "snnhw.golden.networks", "blocks never import networks"),
    ("snnhw.gateware.blocks", "snnhw.gateware.networks", "blocks never import networks"),
    ("snnhw.host", "snnhw.verify", "host does not reach into verify"),
    ("snnhw.host", "snnhw.train", "host does not reach into train"),
    ("snnhw.host", "snnhw.train_conv", "host does not reach into train_conv"),
] + [
    # ir, config, golden and gateware sit below the registry and everything that uses it
    (low, high, f"{low} imports nothing above it")
    for low in ("snnhw.ir", "snnhw.config", "snnhw.errors", "snnhw.golden", "snnhw.gateware")
    for high in ("snnhw.families", "snnhw.export", "snnhw.build", "snnhw.fit", "snnhw.host",
                 "snnhw.train", "snnhw.verify", "snnhw.cli", "snnhw.boards", "snnhw.modelfile")
] + [
    ("snnhw.ir", other, "ir imports only config and errors from snnhw")
    for other in ("snnhw.golden", "snnhw.gateware", "snnhw.protocol", "snnhw.datasets",
                  "snnhw.spikes")
]


def _violations(mod: str, imports: list[tuple[str, list[str], int]]) -> list[str]:
    return [f"{mod}:{line}: imports {target} ({why})" for target, _, line in imports
            for low, high, why in FORBIDDEN if _under(mod, low) and _under(target, high)]


def test_no_forbidden_imports():
    bad = [v for path in _sources() for v in _violations(_module(path), _imports(path))]
    assert bad == []


def test_no_private_names_across_packages():
    """A name starting with ``_`` is used only inside its own package (snnhw/x/ or the
    top-level module snnhw/x.py)."""
    bad = []
    for path in _sources():
        mod = _module(path)
        for target, names, line in _imports(path):
            if not _under(target, "snnhw"):
                continue
            home = ".".join(target.split(".")[:2])
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and not _under(mod, home):
                bad.append(f"{path.relative_to(PKG.parent)}:{line}: {', '.join(private)} "
                           f"from {target}")
    assert bad == []


def test_family_checks_only_in_the_registry():
    """No module but snnhw/families.py asks which family a network is."""
    needles = ("has_learning_core", "learning_features", "_claims_learning", "_has_core")
    bad = [f"{p.relative_to(PKG.parent)}: {n}" for p in _sources()
           if p.name != "families.py" for n in needles if n in p.read_text()]
    assert bad == []


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PKG)))
def test_no_method_longer_than_200_lines(path: Path):
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1} lines, line {n.lineno})"
            for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            and n.end_lineno - n.lineno + 1 > 200]
    assert long == []


def test_the_rules_catch_a_violation():
    """The walk resolves relative imports as Python does, and the rules reject what they
    should: the suite cannot pass vacuously."""
    imports = _imports(PKG / "golden" / "blocks" / "stdp.py")
    assert {"snnhw.ir", "snnhw.golden.blocks.rng"} <= {t for t, _, _ in imports}
    wrong = [("snnhw.golden.networks.diehl_cook", ["LearningState"], 1),
             ("snnhw.gateware.common", ["times_const"], 2), ("snnhw.families", ["load"], 3)]
    assert len(_violations("snnhw.golden.blocks.stdp", wrong)) == 3
    assert _violations("snnhw.golden.networks.diehl_cook", wrong[:1]) == []
