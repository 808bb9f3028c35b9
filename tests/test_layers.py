"""The layering of dynlearn/README.md, checked on every import statement (function-level included).

Errors, the version, atomic writes and the C++ extension builder are the foundation every module may use; systems, solvers,
data, ops, metrics and layers are the lower layer; models sit above them, train above models,
the package root's modules (settings, workflow, evaluation) above train, then the flows, and the
CLI (which runs the flows) on top. A module may import its own layer or lower ones, never a higher one.
And no module imports another package's private module: what crosses a package boundary is public.
"""

import ast

from tests.helpers import REPO

LOWER = {"systems", "solvers", "data", "ops", "metrics", "layers"}
FOUNDATION = {"dynlearn._errors", "dynlearn._version", "dynlearn.atomic", "dynlearn._cpp_extension"}


def layer(module: str) -> int:
    """-1 foundation, 0 lower, 1 models, 2 train, 3 the package root's modules, 4 flows, 5 CLI."""
    parts = module.split(".")
    if module in FOUNDATION:
        return -1
    if parts[0] == "flows":
        return 4
    if module in ("dynlearn.cli", "dynlearn.__main__"):
        return 5
    if len(parts) == 1 or parts[1] not in LOWER | {"models", "train"}:
        return 3
    return {"models": 1, "train": 2}.get(parts[1], 0)


def imports_of(path):
    """(importing module, imported module) for every import of a dynlearn or flows module."""
    module = ".".join(path.relative_to(REPO).with_suffix("").parts)
    module = module.removesuffix(".__init__")
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import _private` imports a private name (a module or not) of pkg
            names = [base] + [f"{base}.{a.name}" for a in node.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
        else:
            continue
        for name in names:
            if name.split(".")[0] in ("dynlearn", "flows"):
                yield module, name


def test_no_module_imports_a_higher_layer():
    files = sorted((REPO / "dynlearn").rglob("*.py")) + sorted((REPO / "flows").rglob("*.py"))
    upward = [(a, b) for path in files for a, b in imports_of(path)
              if layer(b) > layer(a) and not (b == "dynlearn" and layer(a) == 4)]
    assert not upward, f"imports from a higher layer: {upward}"


def owning_package(module: str) -> str:
    """The package whose privacy a module's name falls under ("" for a public module).

    A private name (leading underscore) belongs to the package above it; a sub-package (ops.triton,
    systems.river) belongs to its top-level package, which may use its private kernels and parts.
    """
    parts = module.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[: min(i, 2)])
    return ""


def crosses_privacy(importer: str, imported: str) -> bool:
    owner = owning_package(imported)
    return bool(owner) and importer != owner and not importer.startswith(owner + ".")


def test_no_module_imports_another_packages_private_module():
    files = sorted((REPO / "dynlearn").rglob("*.py")) + sorted((REPO / "flows").rglob("*.py"))
    private = sorted({(a, b) for path in files for a, b in imports_of(path) if crosses_privacy(a, b)})
    assert not private, f"imports of another package's private module: {private}"


def test_the_privacy_rule_itself():
    assert crosses_privacy("dynlearn._evaluate", "dynlearn.data._cases")
    assert crosses_privacy("flows.pipeline", "dynlearn._run")
    assert crosses_privacy("dynlearn.train._scoring", "dynlearn.metrics._protocol")
    assert not crosses_privacy("dynlearn.data._dataset", "dynlearn.data._schema")
    assert not crosses_privacy("dynlearn.ops._ssd", "dynlearn.ops.triton._ssd")
    assert not crosses_privacy("dynlearn.data._generate", "dynlearn._errors")
    assert not crosses_privacy("dynlearn.cli", "dynlearn.data")


def test_the_layer_rule_itself():
    assert layer("dynlearn.data._generate") == 0 and layer("dynlearn.models._alrnn") == 1
    assert layer("dynlearn.train._loop") == 2 and layer("dynlearn._workflow") == 3
    assert layer("dynlearn") == 3 and layer("dynlearn.atomic") == -1 and layer("flows.pipeline") == 4
    assert layer("dynlearn.cli") == 5
