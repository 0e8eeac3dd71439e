"""Imports flow one way: schemas <- runtime <- formats <- ingest, shared learning code <- generators, labels <-
releases <- the policy <- Dagster assets and the command line. A module importing from a later layer fails here,
wherever the import stands (lazy imports inside functions included)."""

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

LAYERS = [  # (module prefix, layer); the longest matching prefix decides
    ("schemas", 0),
    ("pipelines.runtime", 1),
    ("pipelines", 2),  # formats: lerobot/, rlds/, robomimic; quality and dataset pictures
    ("pipelines.ingest", 3),
    ("pipelines.learning", 3),
    ("generators", 4),
    ("latent_actions", 4),
    ("idm", 4),
    ("pipelines.release", 5),
    ("policy", 6),
    ("assets", 7),
    ("benchmarks", 8),
]


def layer(module: str) -> int | None:
    matches = [(len(prefix), rank) for prefix, rank in LAYERS if module == prefix or module.startswith(prefix + ".")]
    return max(matches)[1] if matches else None


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def upward_imports() -> list[str]:
    found = []
    for prefix in {prefix.split(".")[0] for prefix, _ in LAYERS}:
        for path in sorted((REPO_ROOT / prefix).rglob("*.py")):
            module = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
            own = layer(module)
            for name in sorted(imports(path)):
                other = layer(name)
                if other is not None and other > own:
                    found.append(f"{module} (layer {own}) imports {name} (layer {other})")
    return found


def test_no_module_imports_from_a_later_layer():
    assert upward_imports() == []


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    monkeypatch.setattr("tests.test_layers.REPO_ROOT", tmp_path)
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "bad.py").write_text("def f():\n    from policy.train import train_policy\n")
    assert upward_imports() == ["schemas.bad (layer 0) imports policy.train (layer 6)"]
