"""``HostConfig``: ``config.toml`` as one host uses it, read once.

The ``[host]`` settings (isolation, time limits, worker limits), the whole table (plugin
sections become their configuration), and why the file cannot be used. A quick
check (``config_fast``) answers for commands that run no plugin code, so they never
import the full validation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jafhost.errors import StateError
from jafhost.home.config_fast import plainly_valid
from jafhost.safe_read import CONFIG_LIMIT, UnsafeFile, read_text

if TYPE_CHECKING:
    from jafhost.home.config import HostSettings
    from jafhost.home.paths import HomeLayout
    from jafhost.security.ceiling import Ceiling


class HostConfig:
    """``config.toml`` under ``layout``; ``hook_timeout`` (if given) overrides its own."""

    def __init__(self, layout: HomeLayout, hook_timeout: float | None = None) -> None:
        self._layout = layout
        self._hook_timeout = hook_timeout
        self._settings: HostSettings | None = None
        self._table: dict[str, Any] | None = None
        self._problem: str | None = None
        self._ceiling: Ceiling | None = None
        self._ceiling_problem: str | None = None

    def problem(self) -> str | None:
        """Why ``config.toml`` cannot be used (bad TOML, a wrong ``[host]`` value or key),
        naming the file, or None; checked once."""
        if self._problem is None:
            path = self._layout.config
            text: str | None = None
            unreadable = False
            try:
                text = read_text(path, CONFIG_LIMIT)
            except FileNotFoundError:
                pass  # no file: no problem
            except UnsafeFile:
                unreadable = True  # the full check names the file and says why
            self._problem = ""
            if (text is not None and not plainly_valid(text)) or unreadable:
                from jafhost.home.config import host_settings, read_config

                try:
                    host_settings(read_config(path), path)
                except StateError as exc:
                    self._problem = " ".join(str(exc).split())
        return self._problem or None

    def warnings(self) -> list[str]:
        """The problem, if any, as the warning shown where no plugin code runs."""
        problem = self.problem()
        if problem is None:
            if self._ceiling_problem is not None:  # only once something read the policy
                return [
                    f"{self._ceiling_problem}; commands that run plugins refuse until it is fixed"
                ]
            return []
        return [
            f"{problem}; the defaults apply here, and commands that run plugins "
            "refuse until it is fixed"
        ]

    @property
    def settings(self) -> HostSettings:
        """The ``[host]`` settings (``StateError`` when the file cannot be used)."""
        if self._settings is None:
            from jafhost.home.config import host_settings, read_config

            self._table = read_config(self._layout.config)
            self._settings = host_settings(self._table, self._layout.config)
        return self._settings

    @property
    def default_isolation(self) -> str:
        """``[host] isolation`` if something already read the settings, else the
        platform's default: listing plugins never reads the file just for this."""
        from jafhost.home.config import PLATFORM_ISOLATION

        return self._settings.isolation if self._settings is not None else PLATFORM_ISOLATION

    @property
    def table(self) -> dict[str, Any]:
        """The whole file as read with the settings (empty before that)."""
        return self._table or {}

    @property
    def ceiling(self) -> Ceiling:
        """The operator's deny rules and minimum isolation (``home.operator_policy``),
        read once; ``StateError`` naming the file and key when a source is malformed:
        then no plugin code runs (it fails closed)."""
        if self._ceiling is None:
            if self._ceiling_problem is not None:
                raise StateError(self._ceiling_problem)
            import os

            from jafhost.home.operator_policy import load_ceiling

            try:
                table = self._table if self._table is not None else self._plain_table()
                self._ceiling = load_ceiling(table, self._layout.config, os.environ)
            except StateError as exc:
                self._ceiling_problem = " ".join(str(exc).split())
                raise StateError(self._ceiling_problem) from None
        return self._ceiling

    def _plain_table(self) -> dict[str, Any]:
        """``config.toml`` parsed with the standard library alone (``{}`` without one):
        the policy is read before every start, and needs no pydantic for that."""
        import tomllib

        path = self._layout.config
        try:
            text = read_text(path, CONFIG_LIMIT)
        except FileNotFoundError:
            return {}
        except UnsafeFile as exc:
            raise StateError(f"{path}: {exc}") from None
        try:
            return tomllib.loads(text)
        except (ValueError, RecursionError) as exc:
            raise StateError(f"{path}: invalid TOML: {exc}") from None

    def policy_problem(self) -> str | None:
        """Why the operator's policy cannot be used, naming the file and key, or None."""
        try:
            _ = self.ceiling
        except StateError as exc:
            return str(exc)
        return None

    @property
    def hook_timeout(self) -> float:
        if self._hook_timeout is not None:
            return self._hook_timeout
        return self.settings.hook_timeout

    @property
    def isolation(self) -> str:
        """The ``[host] isolation`` default; the platform's when the file cannot be used."""
        from jafhost.home.config import PLATFORM_ISOLATION

        try:
            return self.settings.isolation
        except StateError:
            return PLATFORM_ISOLATION

    @property
    def inprocess_host_wide(self) -> bool:
        """``[host] isolation = "inprocess"`` written in the file where workers could
        run: every plugin then runs in the host's own process (``doctor`` warns)."""
        try:
            settings = self.settings
        except StateError:
            return False
        return "isolation" in settings.model_fields_set and settings.isolation == "inprocess"
