"""The code rules from the developers' guide, checked on the source itself (ast, no imports):

- no private name of a library: no private module (`aiohttp.client_proto`,
  `flask_limiter._extension`), no `_name` imported from a library, no `obj._attr` outside
  an object's own methods; upgrades then cannot break us without a documented change;
- one job per file: no app Python or JavaScript file over 300 lines;
- imports run one way: app -> blueprints -> days/reminders -> content/models, and blueprints
  never import each other.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 300
APP_PACKAGES = ("blueprints", "reminders", "content")
# Our own top-level modules and packages: anything else imported is a library.
OWN = {p.stem.split(".")[0] for p in ROOT.glob("*.py")} | {
    *APP_PACKAGES,
    "tests",
    "bench",
    "migrations",
}
# Library internals that carry no underscore but are not documented API.
UNDOCUMENTED = {"client_proto", "limit_manager", "ResponseHandler", "set_response_params"}
# Private-looking names that their library documents for use: Flask's docs tell how to pass
# the real app object (not the proxy) to another thread with `_get_current_object()`.
DOCUMENTED = {"_get_current_object"}


def app_python_files() -> list[Path]:
    files = sorted(ROOT.glob("*.py"))
    for package in APP_PACKAGES:
        files += sorted((ROOT / package).rglob("*.py"))
    return files


def app_javascript_files() -> list[Path]:
    files = sorted(ROOT.glob("*.js"))  # service-worker.js and any file it imports
    files += sorted(p for p in (ROOT / "static").rglob("*.js") if "vendor" not in p.parts)
    return files


def name(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def imported_modules(tree: ast.Module) -> list[tuple[int, str, list[str]]]:
    """(line, module, names imported from it) for every absolute import."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            found.append((node.lineno, module, [alias.name for alias in node.names]))
    return found


def private_library_uses(path: Path) -> list[str]:
    tree = parse(path)
    problems = []
    for line, module, names in imported_modules(tree):
        parts = module.lstrip(".").split(".")
        if module.startswith(".") or parts[0] in OWN:
            continue
        if any(is_private(p) or p in UNDOCUMENTED for p in parts):
            problems.append(f"{name(path)}:{line} imports the private module {module}")
        for imported in names:
            if is_private(imported) or imported in UNDOCUMENTED:
                problems.append(f"{name(path)}:{line} imports {imported} from {module}")
    own_names = {"self", "cls", *OWN}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or node.attr in DOCUMENTED:
            continue
        base = node.value.id if isinstance(node.value, ast.Name) else None
        if node.attr in UNDOCUMENTED or (is_private(node.attr) and base not in own_names):
            problems.append(f"{name(path)}:{node.lineno} reaches into {ast.unparse(node)}")
    return problems


def test_the_rules_see_the_app_files():
    python = {name(p) for p in app_python_files()}
    assert {"app.py", "days.py", "blueprints/practice.py", "content/calendar.py"} <= python
    assert not any(p.startswith(("tests/", "bench/", "migrations/")) for p in python)
    javascript = {name(p) for p in app_javascript_files()}
    assert "service-worker.js" in javascript and not any("vendor" in p for p in javascript)


def test_the_private_name_check_catches_what_it_is_for(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from __future__ import annotations\n"
        "from aiohttp.client_proto import ResponseHandler\n"
        "import flask_limiter._extension\n"
        "from flask_limiter import _typing\n"
        "from reminders.subscriptions import clean\n"
        "x = limiter.limit_manager\n"
        "y = response._body\n"
        "z = self._own + current_app._get_current_object().name\n"
    )
    problems = private_library_uses(sample)
    assert [p.split(" ", 1)[0] for p in problems] == [
        "sample.py:2",  # the private module
        "sample.py:2",  # and the undocumented class from it
        "sample.py:3",
        "sample.py:4",
        "sample.py:6",
        "sample.py:7",
    ], problems


def test_no_app_module_uses_a_private_library_name():
    problems = [p for path in app_python_files() for p in private_library_uses(path)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("kind", ["python", "javascript"])
def test_no_app_file_is_over_300_lines(kind):
    files = app_python_files() if kind == "python" else app_javascript_files()
    too_long = {}
    for path in files:
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES:
            too_long[name(path)] = lines
    assert not too_long, f"over {MAX_LINES} lines: {too_long}"


def local_imports(path: Path) -> set[str]:
    """The project modules `path` imports, as dotted names (relative ones resolved)."""
    package = name(path.parent).replace("/", ".") if path.parent != ROOT else ""
    found = set()
    for _line, module, names in imported_modules(parse(path)):
        if module.startswith("."):
            base = package.rsplit(".", module.count(".") - 1)[0] if package else ""
            module = ".".join(p for p in (base, module.lstrip(".")) if p)
        found.add(module)
        found.update(f"{module}.{n}" for n in names)  # `from blueprints import push`
    return {m for m in found if m.split(".")[0] in OWN}


def test_blueprints_never_import_each_other():
    crossings = []
    for path in sorted((ROOT / "blueprints").glob("*.py")):
        own = f"blueprints.{path.stem}"
        for module in local_imports(path):
            parts = module.split(".")
            if parts[0] == "blueprints" and len(parts) > 1 and ".".join(parts[:2]) != own:
                crossings.append(f"{name(path)} imports {module}")
    assert not crossings, "\n".join(crossings)


def test_the_domain_never_imports_the_web_layer():
    """The domain modules (days.py, devices.py, restore.py...), the content, the models and
    the reminders sit below the blueprints and the app, and the day logic knows nothing of
    HTTP."""
    web_layer = {"app", "identity", "security", "assets", "gunicorn.conf"}
    lower = [p for p in sorted(ROOT.glob("*.py")) if p.stem not in web_layer]
    assert {"days", "models", "devices", "restore", "revisions"} <= {p.stem for p in lower}
    lower += sorted((ROOT / "content").rglob("*.py")) + sorted((ROOT / "reminders").rglob("*.py"))
    upward = [
        f"{name(path)} imports {module}"
        for path in lower
        for module in local_imports(path)
        if module.split(".")[0] in {"app", "blueprints", "identity", "security"}
    ]
    assert not upward, "\n".join(upward)
    web = [m for _l, m, _n in imported_modules(parse(ROOT / "days.py"))]
    assert not [m for m in web if m.split(".")[0] in {"flask", "werkzeug"}], web


def test_every_app_module_is_installed():
    """pyproject.toml lists each top-level module and package, so the installed app (an
    editable install, run from anywhere) finds every module the code imports."""
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    modules = {p.stem for p in ROOT.glob("*.py")} - {"gunicorn.conf"}
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert set(setup["py-modules"]) == modules
    assert set(setup["packages"]) == packages
