"""What the subprocess peers (slapd, moto) share: stopping them, and freezing them in place."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager


def stop(process: subprocess.Popen) -> None:
    """Terminate ``process`` (killed if it will not go within 5 s), even if a test froze it."""
    process.send_signal(signal.SIGCONT)
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@contextmanager
def frozen(process: subprocess.Popen) -> Iterator[None]:
    """The peer keeps taking connections (the kernel does) but never answers (SIGSTOP), until
    the block ends: how a hung legacy server looks to Ferry."""
    process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        process.send_signal(signal.SIGCONT)
