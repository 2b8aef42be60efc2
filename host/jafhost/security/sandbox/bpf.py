"""A tiny assembler for classic BPF, the language of seccomp filters.

Conditional jumps in classic BPF reach at most 255 instructions ahead; a filter of a few
hundred instructions needs longer ones, so ``jump`` emits ``BPF_JA`` (32-bit offset) to a
label, resolved by ``assemble``.
"""

from __future__ import annotations

import struct

LD_W_ABS = 0x20
JA = 0x05
JEQ_K = 0x15
JGE_K = 0x35
JSET_K = 0x45
RET_K = 0x06


class Program:
    """Instructions in order, with forward ``BPF_JA`` jumps to named labels."""

    def __init__(self) -> None:
        self.code: list[tuple[int, int, int, int | str]] = []
        self.labels: dict[str, int] = {}

    def emit(self, op: int, k: int = 0, jt: int = 0, jf: int = 0) -> None:
        """One instruction; ``jt``/``jf`` skip that many instructions (conditional)."""
        self.code.append((op, jt, jf, k))

    def jump(self, label: str) -> None:
        """An unconditional jump to ``label`` (defined later)."""
        self.code.append((JA, 0, 0, label))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def __len__(self) -> int:
        return len(self.code)

    def assemble(self) -> bytes:
        out = bytearray()
        for index, (op, jt, jf, k) in enumerate(self.code):
            value = self.labels[k] - index - 1 if isinstance(k, str) else k
            out += struct.pack("=HBBI", op, jt, jf, value & 0xFFFFFFFF)
        return bytes(out)
