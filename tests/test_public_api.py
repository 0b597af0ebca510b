"""What a plugin may use is exported from ``harness`` itself, and documented."""

import ast
import re

import harness
from conftest import ROOT


def _harness_submodule_imports(path):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("harness."):
            yield f"{path.relative_to(ROOT)}:{node.lineno}: from {node.module} import ..."
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("harness."):
                    yield f"{path.relative_to(ROOT)}:{node.lineno}: import {alias.name}"


def test_plugins_and_the_example_import_only_from_harness():
    files = sorted([*(ROOT / "plugins").rglob("*.py"), *(ROOT / "examples").rglob("*.py")])
    assert len(files) > 10
    bad = [line for path in files for line in _harness_submodule_imports(path)]
    assert not bad, "import these from `harness` (export them there if needed):\n" + "\n".join(bad)


def test_every_public_name_is_documented_for_plugin_authors():
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"^## Writing a plugin\n(.*?)(?=^## )", readme, re.S | re.M).group(1)
    guide = (ROOT / "docs" / "plugins.md").read_text()
    assert harness.__doc__
    for name in harness.__all__:
        assert f"`{name}`" in section, f"README 'Writing a plugin' does not list `{name}`"
        assert f"`{name}`" in guide, f"docs/plugins.md does not explain `{name}`"
        assert name in harness.__doc__, f"harness/__init__.py's docstring does not list {name}"
