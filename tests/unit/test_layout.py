"""The shape of the code, checked: the product does not know its labs, modules and functions stay
small enough to read, and an operator's settings reach every task."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = [p for p in (ROOT / "fabfile").rglob("*.py") if "lab" not in p.relative_to(ROOT).parts]
LAB = sorted((ROOT / "fabfile" / "lab").rglob("*.py"))
# A table of pcs spellings, one entry per command: long by nature, short per entry.
LONG_MODULES_ALLOWED = {"fabfile/dialects.py"}
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


def imported_modules(path):
    """Absolute names of every module a file imports, relative imports resolved."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    if path.name == "__init__.py":
        package = ".".join(path.relative_to(ROOT).parent.parts)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[:len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            yield prefix
            yield from (f"{prefix}.{alias.name}" for alias in node.names)


def test_the_walker_sees_a_lab_import(tmp_path):
    """The check below must be able to fail: a relative import of the lab is seen."""
    sample = ROOT / "fabfile" / "plan" / "_probe_sample.py"
    try:
        sample.write_text("from ..lab import network\n")
        assert "fabfile.lab.network" in set(imported_modules(sample))
    finally:
        sample.unlink()


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_product_module_imports_the_lab(path):
    found = [m for m in imported_modules(path) if m == "fabfile.lab" or m.startswith("fabfile.lab.")]
    assert not found, f"{path.relative_to(ROOT)} imports {found}: the lab registers through fabfile.hooks"


@pytest.mark.parametrize("path", PRODUCT + LAB, ids=lambda p: str(p.relative_to(ROOT)))
def test_product_modules_and_functions_stay_short(path):
    """Product modules under 500 lines; functions under 60 lines, the labs' included."""
    name = str(path.relative_to(ROOT))
    lines = path.read_text().count("\n")
    if path in PRODUCT and name not in LONG_MODULES_ALLOWED:
        assert lines <= MAX_MODULE_LINES, f"{name}: {lines} lines"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{name}: {', '.join(long)}"


def inv(*args, env=None, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


def test_the_config_file_comes_from_invoke_settings(tmp_path):
    """INVOKE_HALB_CONFIG sets the config for every task; --config still wins. Offline: the
    example pins its platform and the run is dry."""
    example = str(ROOT / "configs" / "example-debian12.yaml")
    result = inv("vip", "--dry-run", "--log-dir", str(tmp_path),
                 env={"INVOKE_HALB_CONFIG": example})
    assert result.returncode == 0, result.stderr
    assert f"from {example}:" in result.stdout
    result = inv("vip", "--dry-run", "--log-dir", str(tmp_path), "--config",
                 str(tmp_path / "missing.yaml"), env={"INVOKE_HALB_CONFIG": example})
    assert result.returncode == 1 and "missing.yaml" in result.stderr


def test_the_log_folder_comes_from_invoke_settings(tmp_path):
    example = str(ROOT / "configs" / "example-debian12.yaml")
    result = inv("vip", "--dry-run", "--config", example,
                 env={"INVOKE_HALB_LOG_DIR": str(tmp_path / "runs")})
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "runs").glob("run-*.log"))


def test_the_product_tasks_load_without_the_lab():
    """halb's own collection has no lab tasks and registers no lab hook."""
    code = ("import sys; from fabfile.tasks import ns; from fabfile import hooks;"
            "assert 'lab' not in ns.collections, ns.collections;"
            "assert not any(m.startswith('fabfile.lab') for m in sys.modules), "
            "[m for m in sys.modules if m.startswith('fabfile.lab')];"
            "assert not hooks._reach_guards and not hooks._fault_injectors")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_checkout_collection_adds_the_lab_and_its_guard():
    code = ("import tasks; from fabfile import hooks; from fabfile.lab import network;"
            "assert 'lab' in tasks.ns.collections; assert network.guard in hooks._reach_guards")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_step_numbers_agree_between_the_runbook_the_planners_and_the_tasks():
    """STEPS is the order; each planner's module and each task's help say the same number."""
    import importlib
    import re

    from fabfile.runner import STEPS
    from fabfile.tasks import ns
    total = len(STEPS)
    for number, (step, planner) in enumerate(STEPS.items(), 1):
        module = importlib.import_module(planner.__module__)
        assert re.match(rf"Runbook step {number}/{total}:", module.__doc__), (step, module.__doc__)
        assert ns[step].__doc__.startswith(f"Step {number}/{total}:"), (step, ns[step].__doc__)


def test_the_wheel_carries_the_templates_the_agent_and_the_halb_program(tmp_path):
    """What an installed halb sends to the nodes is inside the package, and `halb` runs it.
    Built with setuptools' own PEP 517 backend, from a copy of what an sdist holds."""
    import shutil
    import zipfile
    source = tmp_path / "src"
    for part in ("fabfile", "templates"):
        shutil.copytree(ROOT / part, source / part,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / part, source / part)
    built = subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta; "
                            "build_meta.build_wheel(sys.argv[1])", str(tmp_path)],
                           cwd=source, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = tmp_path.glob("halb-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {str(p.relative_to(ROOT)) for p in (ROOT / "fabfile").rglob("*.py")}
    assert sources <= names, sorted(sources - names)  # every module, every subpackage
    assert {"fabfile/templates/haproxy.cfg.j2", "fabfile/ocf/haproxy"} <= names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "halb = fabfile.program:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_every_task_the_makefile_and_ci_run_exists():
    """`inv X` in the Makefile or .ci/ names a task of this checkout's collection."""
    import re

    import tasks
    names = set(tasks.ns.task_names)
    texts = [(ROOT / "Makefile").read_text()] + [p.read_text() for p in (ROOT / ".ci").iterdir()]
    called = {m for text in texts for m in re.findall(r"\binv ([a-z][a-z.-]+)", text)}
    assert called and called <= names, sorted(called - names)
