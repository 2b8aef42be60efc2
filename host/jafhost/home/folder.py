"""The host's home folder as a string: ``JAFHOST_HOME``, or the platform's user data
folder for jafhost. Kept apart from ``paths`` (whose ``HomeLayout`` is made of
``pathlib`` paths) so that ``jafhost call`` can find it before importing ``pathlib``
(``cli.early_worker``)."""

from __future__ import annotations

import os

HOME_VARIABLE = "JAFHOST_HOME"


def home_folder() -> str:
    """``$JAFHOST_HOME`` if set, else the platform's user data folder, absolute."""
    value = os.environ.get(HOME_VARIABLE)
    if value:
        return os.path.abspath(os.path.expanduser(value))
    from platformdirs import user_data_dir

    return os.path.abspath(user_data_dir("jafhost", appauthor=False))
