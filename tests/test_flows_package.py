"""The flows are a package installed with dynlearn, built on its public API only."""

import ast
import subprocess
import sys

from tests.helpers import REPO

FLOWS = sorted((REPO / "flows").rglob("*.py"))


def test_flows_import_from_any_directory_without_path_tricks(tmp_path):
    result = subprocess.run([sys.executable, "-c", "import flows.pipeline, dynlearn; print(flows.pipeline.__file__)"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(REPO / "flows" / "pipeline.py")
    for path in [*sorted((REPO / "dynlearn").rglob("*.py")), *FLOWS]:
        assert "sys.path" not in path.read_text(), f"{path} manipulates sys.path"


def test_flows_use_no_private_module_of_dynlearn():
    for path in FLOWS:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                private = [part for part in name.split(".") if part.startswith("_")]
                assert not (name.startswith("dynlearn") and private), f"{path.name} imports {name}"
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dynlearn"):
                assert not any(a.name.startswith("_") for a in node.names), f"{path.name}: {ast.dump(node)}"


def test_the_package_version_is_pyprojects():
    import tomllib

    import dynlearn

    assert dynlearn.__version__ == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
