"""The processes of the demo: each in its own process group, its output relayed and kept.

``demo.run`` starts Ferry, the legacy IDP and the demo app as :class:`DemoProcess` objects. The
launcher's own process group never contains them, so the terminal's Ctrl-C reaches only the
launcher, which then stops them in order: SIGTERM to each group, SIGKILL after a grace period.
Only the groups this module created are ever signalled.
"""

from __future__ import annotations

import collections
import http.client
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

logger = logging.getLogger("demo.run")

STOP_GRACE = 5.0
TAIL_LINES = 25


class DemoProcess:
    """One process of the demo: started in its own process group, output relayed and kept."""

    def __init__(
        self,
        title: str,
        label: str,
        args: Sequence[str],
        env: Mapping[str, str],
        port: int,
        cwd: Path,
        ready_path: str = "/",
    ) -> None:
        self.title = title
        self.label = label
        self.command = [sys.executable, "-m", "flask", *args]
        self.env = dict(env)
        self.port = port
        self.cwd = cwd
        self.ready_path = ready_path
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # own process group: the terminal's Ctrl-C reaches only us
        )
        self._reader = threading.Thread(target=self._relay, name=f"relay-{self.label}", daemon=True)
        self._reader.start()

    def _relay(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            line = line.rstrip()
            self.tail.append(line)
            logger.info("%-10s | %s", self.label, line)

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def answer(self) -> int | None:
        """The HTTP status of ``GET ready_path``, or ``None`` while nothing answers."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", self.ready_path, headers={"Host": f"localhost:{self.port}"})
            return connection.getresponse().status
        except (OSError, http.client.HTTPException):
            return None
        finally:
            connection.close()

    def last_output(self) -> str:
        if self._reader is not None:
            self._reader.join(timeout=1.0)  # let the last lines of a dead process arrive
        lines = list(self.tail) or ["(no output)"]
        return "\n".join(f"    {line}" for line in lines)

    def signal_group(self, signum: int) -> None:
        """Signal our process group, but only while its leader (our child) is still running."""
        if self.exit_code() is None:
            try:
                os.killpg(self.pid, signum)
            except ProcessLookupError:
                pass


def describe_exit(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def stop_all(children: Sequence[DemoProcess]) -> None:
    """SIGTERM every process group we started, then SIGKILL what is left after a grace period."""
    for child in children:
        child.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for child in children:
        if child.process is None:
            continue
        try:
            child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within %.0f s; killing it", child.title, STOP_GRACE)
            child.signal_group(signal.SIGKILL)
            child.process.wait()
