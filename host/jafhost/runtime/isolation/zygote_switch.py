"""Whether workers are forked from a zygote: read by every ``WorkerSpec``, kept apart
from ``zygote`` so that building a spec imports none of the zygote's machinery."""

from __future__ import annotations

import os

ZYGOTE_VARIABLE = "JAFHOST_WORKER_ZYGOTE"
"""Set to ``1``: workers are forked from a zygote (``zygote``) unless a spec says."""


def wanted() -> bool:
    """Whether workers are forked from a zygote unless told (``JAFHOST_WORKER_ZYGOTE``)."""
    return os.environ.get(ZYGOTE_VARIABLE, "") == "1"
