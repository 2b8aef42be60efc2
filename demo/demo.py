"""The demo: the host with the sample plugins, end to end, offline.

Runs the real ``jafhost`` command in a throwaway home so it never touches yours.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

from rich.console import Console
from rich.rule import Rule

console = Console()


def step(title: str, *args: str, check: bool = True) -> None:
    console.print(Rule(title))
    console.print(f"[bold cyan]$ jafhost {' '.join(args)}[/]")
    jafhost = shutil.which("jafhost") or "jafhost"
    result = subprocess.run([jafhost, *args], check=False)
    if check and result.returncode != 0:
        console.print(f"[red]exit status {result.returncode}[/]")
        sys.exit(result.returncode)
    console.print(f"[dim]exit status {result.returncode}[/]")


def main() -> None:
    home = tempfile.mkdtemp(prefix="jafhost-demo-")
    os.environ["JAFHOST_HOME"] = home
    console.print(f"[bold]jafhost demo[/] (JAFHOST_HOME={home})")
    try:
        step("every installed plugin, found without running any plugin code", "list")
        step("one plugin in full: dependencies and permissions", "info", "notes-search")
        step("enable: show requested permissions, grant, enable", "enable", "notes", "--yes")
        step("disable notes: notes-search cannot run without it", "disable", "notes")
        step("the listing says why", "list")
        step("enable it again", "enable", "notes-search", "--yes")
        step("load everything enabled and report problems", "doctor")
        step("the same as JSON, for scripts", "list", "--json")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
