"""Project tasks. ``python -m pip install nox`` once, then ``python -m nox -s NAME``.

``python -m nox`` alone runs what CI runs: lint, typecheck, tests (the host's own, in a
virtual environment without the sample plugins, so each test sees only the plugins it
installs), samples (every sample plugin installed together, each running its own tests),
and adapters (the JAF adapter against the real jaf-py). Also: demo, template (the same
checks tests/ecosystem/test_template.py makes, by hand), bench.

Every session but ``tests-latest`` installs from ``constraints.txt`` (every direct and
transitive dependency pinned), and so does every ``pip`` the tests start, through
``PIP_CONSTRAINT``: a fresh machine tests exactly what was tested here. ``python -m nox -s
constraints`` regenerates the file from the newest releases; ``python -m nox -s
tests-latest`` runs the host's tests against them without the pins, to see drift on purpose.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "samples", "adapters"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
SAMPLES = sorted(p for p in (ROOT / "sample_plugins").glob("jaf-plugin-*") if p.is_dir())
CONSTRAINTS = ROOT / "constraints.txt"
ALL_EXTRAS = ".[dev,mcp,openai,jaf,watch]"
"""What the constraints cover: the host with every extra, the sample plugins with their test
extras, and the build backend the tests build wheels with."""


def pinned(func: Callable[[nox.Session], None]) -> Callable[[nox.Session], None]:
    """Run a session with ``PIP_CONSTRAINT`` set, so its installs and every pip its tests
    start take the versions in ``constraints.txt``."""

    @functools.wraps(func)
    def with_constraints(session: nox.Session) -> None:
        session.env["PIP_CONSTRAINT"] = str(CONSTRAINTS)
        func(session)

    return with_constraints


def _install_samples(session: nox.Session) -> None:
    args: list[str] = []
    for sample in SAMPLES:
        args += [
            "-e",
            f"{sample}[test]"
            if "[project.optional-dependencies]" in (sample / "pyproject.toml").read_text()
            else str(sample),
        ]
    if args:
        session.install(*args)


@nox.session
@pinned
def tests(session: nox.Session) -> None:
    """The host's own tests."""
    session.install("-e", ".[dev]")
    session.run("pytest", "tests", *session.posargs)


@nox.session
@pinned
def samples(session: nox.Session) -> None:
    """Every sample plugin installed together; each runs its own tests, then the
    examples and docs that use them: tests/test_readme.py runs the README's commands as
    written (its `jafhost install` builds a plugin offline, with this venv's hatchling)."""
    session.install("-e", ".[dev]", "hatchling")
    _install_samples(session)
    session.run(
        "pytest", "tests/test_examples.py", "tests/test_readme.py", "-p", "no:cacheprovider"
    )
    for sample in SAMPLES:
        if (sample / "tests").is_dir():
            session.run(
                "pytest", str(sample / "tests"), "-p", "no:cacheprovider", "--rootdir", str(sample)
            )


@nox.session
@pinned
def lint(session: nox.Session) -> None:
    """ruff over the host, tests, samples, benchmarks and this file; then import-linter's
    contracts (pyproject.toml, ``[tool.importlinter]``) over the host package's imports."""
    session.install("ruff>=0.6", "import-linter>=2.1")
    session.run("ruff", "check", ".")
    # import-linter reads the source without importing it: the host's dependencies are
    # not needed, only the package on the path
    session.run("lint-imports", env={"PYTHONPATH": str(ROOT / "host")})


@nox.session
@pinned
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the host package."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
@pinned
def demo(session: nox.Session) -> None:
    """The main job end to end with the sample plugins, offline, in a throwaway home."""
    session.install("-e", ".[mcp]")
    _install_samples(session)
    session.run("python", "demo/demo.py", env={"PYTHONUNBUFFERED": "1"})


TEMPLATE_RENDERS = {"none": "weather", "read": "file-reader", "net": "web_fetch"}
"""The template's example-tool choices, each rendered under a plugin name of its own."""


@nox.session
@pinned
def template(session: nox.Session) -> None:
    """Render plugin_template with `jafhost new` (each example tool), install what it
    rendered, list it, and run each rendered project's own tests, unedited."""
    session.install("-e", ".")
    out = Path(session.create_tmp()) / "rendered"
    shutil.rmtree(out, ignore_errors=True)
    projects = []
    for choice, name in TEMPLATE_RENDERS.items():
        session.run("jafhost", "new", name, "--no-input", "-o", str(out), "--permissions", choice)
        projects.append(out / ("jaf-plugin-" + name.replace("_", "-")))
    session.install(*(arg for p in projects for arg in ("-e", f"{p}[test]")))
    session.run("jafhost", "list", env={"JAFHOST_HOME": str(out / "home")})
    for project in projects:
        with session.chdir(project):
            session.run("pytest", "-p", "no:cacheprovider")


@nox.session
@pinned
def adapters(session: nox.Session) -> None:
    """The JAF adapter with jaf-py from the registry (a big dependency: its own venv)."""
    session.install("-e", ".[dev,jaf]")
    session.run(
        "pytest",
        "tests/adapters/test_adapter_jaf.py",
        "-p",
        "no:cacheprovider",
        env={"LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )


@nox.session
@pinned
def bench(session: nox.Session) -> None:
    """Every benchmark; each appends its results to bench/RESULTS.md."""
    session.install("-e", ".[dev]")
    env = {"PATH": os.environ.get("PATH", "")}
    for script in ("discovery.py", "calls.py", "isolation.py", "mcp_roundtrip.py"):
        session.run("python", f"bench/{script}", env=env)


@nox.session(name="tests-latest")
def tests_latest(session: nox.Session) -> None:
    """The host's tests against the newest releases of everything, without the pins: drift
    seen on purpose. Not part of CI."""
    session.env.pop("PIP_CONSTRAINT", None)
    session.install("--upgrade", "-e", ".[dev]")
    session.run("pip", "list", "--format=freeze")
    session.run("pytest", "tests", *session.posargs, env={"PIP_CONSTRAINT": ""})


@nox.session(reuse_venv=False)
def constraints(session: nox.Session) -> None:
    """Regenerate constraints.txt: install the host with every extra, every sample plugin
    with its test extra and the build backend from the newest releases into a new virtual
    environment, and pin what pip chose."""
    session.env.pop("PIP_CONSTRAINT", None)
    session.install("--upgrade", "pip")
    session.install(ALL_EXTRAS, "hatchling", env={"PIP_CONSTRAINT": ""})
    _install_samples(session)
    frozen = session.run(
        "pip", "freeze", "--exclude-editable", silent=True, env={"PIP_CONSTRAINT": ""}
    )
    assert isinstance(frozen, str)
    pins = sorted(
        (line for line in frozen.splitlines() if "==" in line),
        key=str.lower,
    )
    CONSTRAINTS.write_text(
        "# Every direct and transitive dependency of the host (all extras), the sample plugins\n"
        "# (test extras) and the build backend, pinned. Regenerate: python -m nox -s constraints\n"
        + "\n".join(pins)
        + "\n"
    )
    session.log(f"{len(pins)} pins written to {CONSTRAINTS.name}")
