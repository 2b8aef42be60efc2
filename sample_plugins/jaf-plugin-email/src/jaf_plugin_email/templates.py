"""Email templates rendered with Jinja2 in a sandbox, strict about missing variables.

A template ``NAME`` is a set of files in one folder:

- ``NAME.subject.txt``: the subject (rendered, then folded onto one line),
- ``NAME.txt``: the plain-text body,
- ``NAME.html``: an optional HTML alternative (autoescaped).

Folders are searched in order: the configured ``templates_dir``, the plugin's data
folder's ``templates/``, then the built-in templates shipped in this package
(``welcome``). The first folder that has ``NAME.txt`` provides all of the template's
parts, so an override never mixes with the built-in version.

Rendering uses Jinja2's ``ImmutableSandboxedEnvironment`` (template text cannot reach
Python internals or mutate the variables it is given) with ``StrictUndefined``: a
variable the template uses but the caller did not give is an error naming it, never a
silently empty string in a customer's inbox.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
    meta,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from jaf_plugin_email.addresses import EmailError
from jaf_plugin_email.config import TEMPLATE_NAME

BUILTIN_DIR = Path(__file__).parent / "templates"
"""The templates shipped with the plugin."""

PARTS = ("subject.txt", "txt", "html")


class TemplateProblem(EmailError):
    """A template is unknown, broken, or needs variables that were not given."""


@dataclass(frozen=True)
class Rendered:
    """A rendered template: one-line subject, text body, optional HTML body."""

    template: str
    subject: str
    text: str
    html: str | None


@dataclass(frozen=True)
class Source:
    """A folder of templates and what to call it in listings."""

    path: Path
    label: str


class Templates:
    """Finds and renders templates from an ordered list of folders."""

    def __init__(self, sources: Sequence[Source]) -> None:
        self.sources = list(sources)
        self._environments: dict[Path, ImmutableSandboxedEnvironment] = {}

    @classmethod
    def for_plugin(cls, templates_dir: Path | None, data_dir: Path | None) -> "Templates":
        sources = []
        if templates_dir is not None:
            sources.append(Source(templates_dir, "templates_dir"))
        if data_dir is not None:
            sources.append(Source(data_dir / "templates", "data"))
        sources.append(Source(BUILTIN_DIR, "built-in"))
        return cls(sources)

    def _environment(self, folder: Path) -> ImmutableSandboxedEnvironment:
        env = self._environments.get(folder)
        if env is None:
            env = ImmutableSandboxedEnvironment(
                loader=FileSystemLoader(folder),
                undefined=StrictUndefined,
                autoescape=lambda name: bool(name and name.endswith(".html")),
                keep_trailing_newline=True,
                auto_reload=True,
            )
            self._environments[folder] = env
        return env

    def names(self) -> list[str]:
        """Every template name available, each once (the first folder's wins)."""
        return [entry["name"] for entry in self.listing()]

    def listing(self) -> list[dict[str, Any]]:
        """Each available template: name, where it comes from, its parts and variables."""
        found: dict[str, dict[str, Any]] = {}
        for source in self.sources:
            if not source.path.is_dir():
                continue
            for path in sorted(source.path.iterdir()):
                if path.name.endswith(".subject.txt") or path.suffix != ".txt":
                    continue
                name = path.name[: -len(".txt")]
                if not TEMPLATE_NAME.fullmatch(name) or name in found:
                    continue
                parts = [p for p in PARTS if (source.path / f"{name}.{p}").is_file()]
                if "subject.txt" not in parts:
                    continue
                found[name] = {
                    "name": name,
                    "source": source.label,
                    "html": "html" in parts,
                    "variables": self._variables(source.path, name, parts),
                }
        return sorted(found.values(), key=lambda entry: entry["name"])

    def _variables(self, folder: Path, name: str, parts: Sequence[str]) -> list[str]:
        env = self._environment(folder)
        assert env.loader is not None
        names: set[str] = set()
        for part in parts:
            try:
                source, _, _ = env.loader.get_source(env, f"{name}.{part}")
                names |= meta.find_undeclared_variables(env.parse(source))
            except (TemplateSyntaxError, TemplateNotFound):
                continue
        return sorted(names)

    def find(self, name: str) -> Path:
        """The folder providing template ``name``; ``TemplateProblem`` if there is none."""
        if not isinstance(name, str) or not TEMPLATE_NAME.fullmatch(name):
            raise TemplateProblem(f"bad template name {name!r}: use letters, digits, '_' and '-'")
        for source in self.sources:
            if (source.path / f"{name}.txt").is_file():
                if not (source.path / f"{name}.subject.txt").is_file():
                    raise TemplateProblem(
                        f"template {name!r} in {source.path} has no {name}.subject.txt"
                    )
                return source.path
        available = ", ".join(self.names()) or "none"
        raise TemplateProblem(f"no template named {name!r} (available: {available})")

    def render(self, name: str, variables: Mapping[str, Any] | None = None) -> Rendered:
        """Render template ``name``'s subject, text and HTML parts with ``variables``."""
        folder = self.find(name)
        given = dict(variables or {})
        bad_keys = [key for key in given if not isinstance(key, str) or not key.isidentifier()]
        if bad_keys:
            raise TemplateProblem(
                f"template {name!r}: variable names must be identifiers, not "
                + ", ".join(repr(k) for k in bad_keys)
            )
        env = self._environment(folder)
        parts: dict[str, str | None] = {}
        for part in PARTS:
            filename = f"{name}.{part}"
            if part == "html" and not (folder / filename).is_file():
                parts[part] = None
                continue
            try:
                parts[part] = env.get_template(filename).render(given)
            except UndefinedError as exc:
                existing = [p for p in PARTS if (folder / f"{name}.{p}").is_file()]
                missing = sorted(set(self._variables(folder, name, existing)) - set(given))
                hint = f"; not given: {', '.join(missing)}" if missing else ""
                shown = ", ".join(sorted(given)) or "none"
                raise TemplateProblem(
                    f"template {name!r} ({filename}): missing variable: {exc.message}{hint} "
                    f"(variables given: {shown})"
                ) from None
            except TemplateSyntaxError as exc:
                raise TemplateProblem(
                    f"template {name!r}: syntax error in {exc.name or filename} line "
                    f"{exc.lineno}: {exc.message}"
                ) from None
            except SecurityError as exc:
                raise TemplateProblem(
                    f"template {name!r} ({filename}): not allowed in the sandbox: {exc}"
                ) from None
            except TemplateError as exc:
                raise TemplateProblem(f"template {name!r} ({filename}): {exc}") from None
        subject = " ".join((parts["subject.txt"] or "").split())
        if not subject:
            raise TemplateProblem(f"template {name!r}: the subject renders empty")
        return Rendered(name, subject, parts["txt"] or "", parts["html"])
