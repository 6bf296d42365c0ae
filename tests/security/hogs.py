"""Upload checkers that misbehave on purpose, run in the checking child in place of the real one (importable there
by name, which a function defined in a test is not)."""
from __future__ import annotations

import os
import time


def allocate(data: bytes, kind: str, caps: object) -> bytes:
    """Asks for 2 GB, as a decoder fed a crafted file might."""
    block = bytearray(2 * 1024 * 1024 * 1024)
    return bytes(block[:1])


def sleep(data: bytes, kind: str, caps: object) -> None:
    """Hangs, as a parser caught in a loop that waits on nothing."""
    time.sleep(120)


def spin(data: bytes, kind: str, caps: object) -> None:
    """Burns CPU forever, as a parser caught in a loop."""
    while True:
        pass


def crash(data: bytes, kind: str, caps: object) -> None:
    """Dies at once, as a decoder that segfaults."""
    os._exit(139)
