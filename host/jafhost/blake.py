"""BLAKE2b without loading OpenSSL.

``import hashlib`` loads OpenSSL's ``_hashlib`` (a few milliseconds), paid by every
``jafhost call`` whose path needs only BLAKE2b: cache keys, the digests of watched files,
integrity stamp names. CPython builds BLAKE2b in (``_blake2``, the very class
``hashlib.blake2b`` is); an interpreter built without it gets ``hashlib``'s.
"""

from __future__ import annotations

try:
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a CPython built without its own BLAKE2
    from hashlib import blake2b

__all__ = ["blake2b"]
