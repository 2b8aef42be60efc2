"""Render ``plugin_template`` (a cookiecutter template) into a new plugin project.

``jafhost new`` is the skin; this module finds the template, checks the answers it
can check before rendering (the same rules as the template's pre-generation hook and as
discovery: a bad name here would only become an ``invalid`` plugin later), and runs the
cookiecutter library, imported only when a project is rendered.

The template ships inside the wheel as ``jafhost/plugin_template``; in a source checkout
(an editable install) it is the ``plugin_template/`` folder at the repository's top.
Cookiecutter's replay file goes to a temporary folder, never to the user's home, and is
read back to learn the answers given at the prompts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from jafhost.discovery.manifest import PLUGIN_NAME
from jafhost.errors import ScaffoldError, UsageError, quoted

TEMPLATE = "plugin_template"
PERMISSION_CHOICES = ("none", "read", "net")
KINDS = ("tool", "agent", "integration", "capability", "event")


@dataclass(frozen=True)
class Project:
    """A rendered project: where it is and the names it was given."""

    path: Path
    plugin_name: str
    distribution: str
    package: str
    permissions: str
    tool: str


def template_dir() -> Path:
    """The template folder: inside the installed package, else the source checkout's."""
    packaged = files("jafhost") / TEMPLATE
    if packaged.is_dir() and (packaged / "cookiecutter.json").is_file():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[3] / TEMPLATE
    if (checkout / "cookiecutter.json").is_file():
        return checkout
    raise ScaffoldError(
        f"the plugin template is missing: neither {packaged} nor {checkout} holds "
        "cookiecutter.json (reinstall jafhost)"
    )


NAME_MAX = 50
"""The longest name ``new`` accepts: exported tool names (``plugin__tool``) must fit
OpenAI's 64 characters."""


def check_name(name: str) -> str:
    """Plugin names: lowercase letters and digits in words joined by single - or _."""
    if not PLUGIN_NAME.fullmatch(name):
        raise UsageError(
            f"plugin name {quoted(name)} is not allowed: use lowercase letters and digits in "
            "words joined by single '-' or '_' (e.g. notes-search)"
        )
    if len(name) > NAME_MAX:
        raise UsageError(
            f"plugin name {quoted(name)} is too long: at most {NAME_MAX} characters, so "
            "its tools' exported names (plugin__tool) fit in 64"
        )
    return name


def check_kinds(text: str) -> str:
    """A comma-separated list of kinds, normalized to ``"tool, capability"``."""
    kinds = [k.strip() for k in text.split(",")]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise UsageError(
            f"kinds {quoted(text)}: each must be one of {', '.join(KINDS)} (comma-separated)"
        )
    return ", ".join(dict.fromkeys(kinds))


def check_permissions(choice: str) -> str:
    if choice not in PERMISSION_CHOICES:
        raise UsageError(
            f"permissions {quoted(choice)}: choose one of {', '.join(PERMISSION_CHOICES)}"
        )
    return choice


def distribution_for(name: str) -> str:
    return "jaf-plugin-" + name.replace("_", "-")


def package_for(name: str) -> str:
    return "jaf_plugin_" + name.replace("-", "_")


def tool_for(permissions: str) -> str:
    """The example tool the template writes for a permission choice."""
    return {"read": "read_text", "net": "fetch"}.get(permissions, "hello")


def git_identity() -> dict[str, str]:
    """``author_name`` / ``author_email`` from git's configuration, when it has them."""
    found: dict[str, str] = {}
    for key, field in (("user.name", "author_name"), ("user.email", "author_email")):
        try:
            out = subprocess.run(
                ["git", "config", "--get", key],
                capture_output=True,
                text=True,
                timeout=5,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.SubprocessError):
            return found
        if out.returncode == 0 and out.stdout.strip():
            found[field] = out.stdout.strip()
    return found


def render(
    answers: Mapping[str, str],
    output_dir: Path,
    *,
    no_input: bool,
    template: Path | None = None,
) -> Project:
    """Render the template into ``output_dir/jaf-plugin-NAME``.

    ``answers`` override the template's defaults (``plugin_name``, ``description``,
    ``author_name``, ``author_email``, ``kinds``, ``permissions``); with ``no_input``
    false, cookiecutter prompts for every variable, offering them as defaults.
    """
    from cookiecutter.exceptions import (  # type: ignore[import-untyped]
        CookiecutterException,
        FailedHookException,
        OutputDirExistsException,
    )
    from cookiecutter.main import cookiecutter  # type: ignore[import-untyped]

    source = template or template_dir()
    name = answers.get("plugin_name")
    if name is not None and no_input:
        target = output_dir / distribution_for(name)
        if target.exists():
            raise ScaffoldError(f"{target} already exists; choose another name or --output-dir")
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="jafhost-new-") as scratch:
        source = _clean_copy(source, Path(scratch) / source.name)
        config = Path(scratch) / "config.yaml"
        config.write_text(  # JSON is YAML: cookiecutter keeps its files in the scratch folder
            json.dumps(
                {
                    "replay_dir": str(Path(scratch) / "replay"),
                    "cookiecutters_dir": str(Path(scratch) / "cookiecutters"),
                }
            ),
            encoding="utf-8",
        )
        try:
            path = cookiecutter(
                str(source),
                no_input=no_input,
                extra_context=dict(answers),
                output_dir=str(output_dir),
                config_file=str(config),
            )
        except OutputDirExistsException as exc:
            where = _first_line(exc).removeprefix("Error: ")
            raise ScaffoldError(f"{where}; choose another name or --output-dir") from None
        except FailedHookException:
            raise ScaffoldError(
                "the template refused the answers (the reason is printed above)"
            ) from None
        except (CookiecutterException, ValueError) as exc:
            raise ScaffoldError(f"cannot render the template: {_first_line(exc)}") from None
        context = _replayed(Path(scratch) / "replay", source.name)
    given = str(context.get("plugin_name") or name or "")
    permissions = str(context.get("permissions") or answers.get("permissions") or "none")
    return Project(
        path=Path(path),
        plugin_name=given,
        distribution=distribution_for(given),
        package=package_for(given),
        permissions=permissions,
        tool=tool_for(permissions),
    )


BYTECODE = ("__pycache__", "*.pyc", "*.pyo")


def _clean_copy(template: Path, target: Path) -> Path:
    """The template without bytecode, copied to ``target``; returns ``target``.

    Cookiecutter copies every file of the template into the project, and the template's
    ``.py`` files are compiled wherever Python meets them: pip byte-compiles the whole
    installed package, ``jafhost/plugin_template`` included, and an import or a test run
    in a checkout does the same. Rendering that folder would hand each new project a
    ``__pycache__`` of someone else's interpreter.
    """
    shutil.copytree(template, target, ignore=shutil.ignore_patterns(*BYTECODE))
    return target


def _replayed(replay_dir: Path, template_name: str) -> dict[str, Any]:
    try:
        data = json.loads((replay_dir / f"{template_name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    context = data.get("cookiecutter") if isinstance(data, dict) else None
    return context if isinstance(context, dict) else {}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
