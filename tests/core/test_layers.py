"""Domains reach each other only through their services (a domain may read another's models in queries, and listen
to its signals); the layer order itself is import-linter's contract in pyproject.toml, run by `make lint`."""
import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
DOMAINS = {"ledger", "auth", "notifications", "payments", "kyc", "properties", "payouts", "investing"}
PUBLIC = {"services", "models", "signals"}


def _imported_modules(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("app."):
            parts = node.module.split(".")
            yield node.lineno, ([f"{node.module}.{alias.name}" for alias in node.names] if len(parts) == 2
                                else [node.module])
        elif isinstance(node, ast.Import):
            yield node.lineno, [alias.name for alias in node.names if alias.name.startswith("app.")]


def test_a_domain_uses_another_only_through_its_services_models_and_signals():
    reaches = []
    for domain in sorted(DOMAINS):
        for path in sorted((APP / domain).rglob("*.py")):
            demo = path.stem == "demo"
            for lineno, modules in _imported_modules(ast.parse(path.read_text())):
                for module in modules:
                    parts = module.split(".")
                    if len(parts) < 3 or parts[1] not in DOMAINS or parts[1] == domain:
                        continue
                    if parts[2] in PUBLIC or (demo and parts[2] == "demo"):  # demo data builds on demo data
                        continue
                    reaches.append(f"{path.relative_to(APP.parent)}:{lineno} imports {module}")
    assert reaches == [], "go through the other domain's services:\n" + "\n".join(reaches)
