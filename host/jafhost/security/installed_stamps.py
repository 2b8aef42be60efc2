"""The stamps of jafhost's own files last found matching its ``RECORD``, kept in the
host's cache so that a command that starts one worker (``jafhost call``) hashes none of
them when nothing changed since a previous command checked them.

A stamp is a file's size, modification and change time, inode and the hash ``RECORD``
expects (``algorithm=value``); ``installed_files`` hashes a file again whenever the stamp
it finds now differs from the kept one. The kernel moves the change time on every write
and on ``utime`` (no one can set it back), so a stamp vouches for unchanged content
only. One small JSON file per installed package under ``<home>/cache/installed``, which
no worker may write (its mounts and Landlock leave it only its own folders) and
in-process plugins may not either (the guard's home rules); a file that cannot be read
or has the wrong shape counts as no stamps (everything is hashed again).
"""

from __future__ import annotations

from jafhost.file_stamps import Stamp, read_stamps, stamps_file, write_stamps

__all__ = ["FOLDER", "Stamp", "load", "save"]
FOLDER = "installed"
"""The folder under the host's cache that holds the stamp files."""
LABEL = "package"
"""What a stamps file here names its owner (the package folder's real path) by."""


def load(folder: str, package: str) -> dict[str, Stamp]:
    """The stamps kept for the jafhost package at ``package`` (its real path), by file."""
    return read_stamps(stamps_file(folder, package), LABEL, package)


def save(folder: str, package: str, stamps: dict[str, Stamp]) -> None:
    """Keep ``stamps`` for ``package``; a failure to write costs only hashing next time."""
    write_stamps(stamps_file(folder, package), LABEL, package, stamps)
