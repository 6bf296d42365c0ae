"""Imports say where things depend on each other: an import inside a function of app/ hides that, so each one
that must stay there (a load-order or optional dependency) carries a comment saying why."""
import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"


def _function_imports(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Import | ast.ImportFrom):
                    yield sub


def test_every_import_inside_a_function_says_why():
    unexplained = []
    for path in sorted(APP.rglob("*.py")):
        lines = path.read_text().splitlines()
        for node in _function_imports(ast.parse("\n".join(lines), filename=str(path))):
            here = lines[node.lineno - 1]
            above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
            if "#" not in here and not above.startswith("#"):
                unexplained.append(f"{path.relative_to(APP.parent)}:{node.lineno}: {here.strip()}")
    assert unexplained == [], "move these imports to the top of the module, or say why they stay:\n" + \
        "\n".join(unexplained)


def test_no_module_of_app_is_longer_than_about_four_hundred_lines():
    long = {str(p.relative_to(APP.parent)): n for p in APP.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 420}
    assert long == {}, "split these by use case"
