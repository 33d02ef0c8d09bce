"""``make run``: start Ferry, the demo legacy IDP and the demo app, and show where to click.

Run from the repository root with ``python -m demo.run`` (``--fresh`` first forgets the users
Ferry migrated in earlier runs). It writes ``instance/demo/ferry.toml`` from
``demo/ferry.toml.template``, starts an SMTP sink in this process (:mod:`demo.mail_sink`: Ferry
sends its one-time codes there, each one is printed on this console as it arrives and kept for the
demo app's "Demo mailbox" page), starts three processes, each in its own process group, waits
until each one answers HTTP, and prints a banner with the addresses, the demo users and the
command that switches the legacy IDP off. Ports come from ``FERRY_PORT``, ``DEMO_IDP_PORT``,
``DEMO_APP_PORT`` and ``DEMO_SMTP_PORT`` (5000, 5001, 5002, 5025); ``DEMO_START_TIMEOUT``
(seconds, default 30) bounds the wait.

Ctrl-C or SIGTERM stops all three and exits 0. If the legacy IDP stops, that is the point of the
demo: it is reported and the rest keeps running. If Ferry or the demo app stops on its own, the
launcher reports it with the process's last output lines, stops the other two and exits 1.
POSIX only (process groups).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from demo.legacy_idp import DEMO_USERS
from demo.mail_sink import Mailbox, SmtpSink
from demo.processes import DemoProcess, describe_exit, stop_all

logger = logging.getLogger("demo.run")

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).with_name("ferry.toml.template")
INSTANCE = REPO_ROOT / "instance" / "demo"
#: The demo's mail (a Maildir); emptied at every start, since older codes are of no use.
MAILBOX = INSTANCE / "mailbox"
DEFAULT_PORTS = {"FERRY_PORT": 5000, "DEMO_IDP_PORT": 5001, "DEMO_APP_PORT": 5002,
                 "DEMO_SMTP_PORT": 5025}
LOOPBACK = ("127.0.0.1", "::1")


class DemoError(Exception):
    """A reason the demo cannot go on, worded for the person who typed ``make run``."""


@dataclass(frozen=True)
class Ports:
    """The ports of the demo: three web servers and the SMTP sink."""

    ferry: int
    idp: int
    app: int
    smtp: int = DEFAULT_PORTS["DEMO_SMTP_PORT"]

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Ports:
        """The ports from the environment, checked (numbers, all different)."""
        values = {}
        for name, default in DEFAULT_PORTS.items():
            raw = environ.get(name, "").strip() or str(default)
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise DemoError(f"{name}={raw!r} is not a port number (1-65535).")
            values[name] = int(raw)
        if len(set(values.values())) != len(values):
            raise DemoError(f"The demo ports must differ, got {values}.")
        return cls(values["FERRY_PORT"], values["DEMO_IDP_PORT"], values["DEMO_APP_PORT"],
                   values["DEMO_SMTP_PORT"])


def start_timeout(environ: Mapping[str, str]) -> float:
    """Seconds to wait for each process to answer (``DEMO_START_TIMEOUT``)."""
    raw = environ.get("DEMO_START_TIMEOUT", "").strip() or "30"
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise DemoError(f"DEMO_START_TIMEOUT={raw!r} is not a positive number of seconds.")
    return value


def render_config(template: str, ports: Ports) -> str:
    """Fill the ports (and the demo folder, home of the sample theme) into the template; fail
    here, not in Ferry, if the result is not TOML."""
    text = (
        template.replace("{ferry_port}", str(ports.ferry))
        .replace("{idp_port}", str(ports.idp))
        .replace("{app_port}", str(ports.app))
        .replace("{smtp_port}", str(ports.smtp))
        .replace("{demo_dir}", Path(__file__).resolve().parent.as_posix())
    )
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DemoError(f"{TEMPLATE} does not give valid TOML: {exc}") from exc
    return text


def write_config(ports: Ports, *, fresh: bool) -> Path:
    """Write ``instance/demo/ferry.toml``; with ``fresh``, empty the demo instance folder first."""
    if fresh and INSTANCE.exists():
        logger.info("--fresh: removing %s (users migrated in earlier runs are forgotten)", INSTANCE)
        shutil.rmtree(INSTANCE)
    INSTANCE.mkdir(parents=True, exist_ok=True)
    target = INSTANCE / "ferry.toml"
    target.write_text(render_config(TEMPLATE.read_text(encoding="utf-8"), ports), encoding="utf-8")
    return target


def load_roster(config: Path, ferry_url: str) -> None:
    """Import the demo users into Ferry's roster (idempotent), so the migration dashboard has
    something to count: everyone remaining until their first sign-in."""
    roster = INSTANCE / "roster.csv"
    roster.write_text("email,given_name,family_name\n" + "".join(
        f"{email},{given},{family}\n" for email, _password, given, family in DEMO_USERS),
        encoding="utf-8")
    done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "flask", "--app", "app", "ferry", "roster", "import", str(roster),
         "--connector", "demo-legacy"], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=120, env=dict(os.environ, **ferry_environment(config, ferry_url)), check=False)
    if done.returncode != 0:
        raise DemoError(f"The demo roster could not be imported: {done.stderr.strip()[-500:]}")


def ferry_environment(config: Path, ferry_url: str) -> dict[str, str]:
    """What Ferry (the server and its commands) runs with in the demo."""
    return {"FERRY_CONFIG": str(config), "FERRY_INSTANCE_PATH": str(INSTANCE),
            "FERRY_ISSUER": ferry_url}


def start_mail_sink(port: int) -> SmtpSink:
    """Empty the demo mailbox and start the SMTP server Ferry sends its codes to."""
    shutil.rmtree(MAILBOX, ignore_errors=True)
    try:
        return SmtpSink(Mailbox(MAILBOX), port).start()
    except (OSError, RuntimeError) as exc:
        raise DemoError(f"The demo mailbox (SMTP on 127.0.0.1:{port}) did not start: {exc}") from exc


def ensure_free(port: int, title: str, variable: str) -> None:
    """Refuse to start if something already listens on ``port``: the readiness check would
    otherwise take the old program for ours."""
    for host in LOOPBACK:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                pass
        except OSError:
            continue
        raise DemoError(
            f"Port {port} ({title}) is already in use on {host}. Stop that program or choose "
            f"another port, e.g. `{variable}={port + 100} make run`."
            + (" (On macOS the AirPlay Receiver listens on port 5000.)" if port == 5000 else "")
        )


def build_children(ports: Ports, config: Path) -> tuple[DemoProcess, DemoProcess, DemoProcess]:
    """The legacy IDP, Ferry and the demo app, not yet started."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # Everything here talks to localhost; a proxy from the environment must not get in between.
    no_proxy = ",".join(filter(None, [env.get("NO_PROXY", ""), "localhost,127.0.0.1,::1"]))
    env["NO_PROXY"] = env["no_proxy"] = no_proxy
    ferry_url = f"http://localhost:{ports.ferry}"
    idp = DemoProcess(
        "The legacy IDP",
        "legacy-idp",
        ["--app", "demo.legacy_idp:create_app", "run", "--port", str(ports.idp), "--no-reload"],
        env,
        ports.idp,
        REPO_ROOT,
    )
    ferry = DemoProcess(
        "Ferry",
        "ferry",
        ["--app", "app", "run", "--port", str(ports.ferry)],
        {**env, **ferry_environment(config, ferry_url)},
        ports.ferry,
        REPO_ROOT,
        ready_path="/.well-known/openid-configuration",
    )
    app = DemoProcess(
        "The demo app",
        "demo-app",
        ["--app", "demo.client_app:create_app", "run", "--port", str(ports.app), "--no-reload"],
        {
            **env,
            "FERRY_URL": ferry_url,
            "DEMO_APP_URL": f"http://localhost:{ports.app}",
            "DEMO_APP_PORT": str(ports.app),
            "DEMO_MAILBOX": str(MAILBOX),
        },
        ports.app,
        REPO_ROOT,
    )
    return idp, ferry, app


def wait_until_answering(
    children: Sequence[DemoProcess], timeout: float, stop: threading.Event
) -> dict[str, int]:
    """Wait for each child to answer HTTP; return their statuses (empty if asked to stop)."""
    deadline = time.monotonic() + timeout
    statuses: dict[str, int] = {}
    for child in children:
        while (status := child.answer()) is None:
            if stop.is_set():
                return {}
            code = child.exit_code()
            if code is not None:
                raise DemoError(
                    f"{child.title} stopped ({describe_exit(code)}) before answering on "
                    f"{child.url}. Its last output:\n{child.last_output()}"
                )
            if time.monotonic() > deadline:
                raise DemoError(
                    f"{child.title} did not answer on {child.url} within {timeout:.0f} s. "
                    f"Its last output:\n{child.last_output()}"
                )
            stop.wait(0.2)
        statuses[child.label] = status
    return statuses


def banner(idp: DemoProcess, ferry: DemoProcess, app: DemoProcess, ferry_status: int) -> str:
    """What the console shows once everything answers: addresses, users, what to try."""
    users = "\n".join(f"    {email:<20} {password}" for email, password, *_ in DEMO_USERS)
    warning = ""
    if ferry_status != 200:
        warning = (
            f"\n  WARNING: Ferry answered HTTP {ferry_status} at {ferry.ready_path}; the demo app "
            "cannot sign in until Ferry serves discovery.\n"
        )
    return f"""
================================================================================
  Ferry demo is running
{warning}
    Demo app     {app.url}   <- start here
    Ferry        {ferry.url}
    Legacy IDP   {idp.url}   (pid {idp.pid})
    Mailbox      {app.url}/mailbox   (the mail Ferry sends)

  Demo users (they exist only in the legacy IDP until their first sign-in):
{users}

  1. Open {app.url}, click "Sign in" and sign in as alice@example.com.
     Ferry checks the password at the legacy IDP once and moves Alice over, then
     offers a passkey or a PIN for this device ("Not now" skips).
  2. Sign out, type carol@example.com and choose "E-mail me a code". Carol has not
     migrated: Ferry finds her address with the legacy IDP's user lookup and mails
     her a code. Every code is printed here and shown in the Demo mailbox:

         {app.url}/mailbox

  3. Sign out, then switch only the legacy IDP off:

         kill {idp.pid}

  4. Sign in as Alice again: it still works, Ferry no longer needs the legacy IDP.
     Bob, who has not migrated yet, cannot sign in until the legacy IDP is back.

  5. The migration dashboard, {ferry.url}/admin/migration, counts the demo users
     (its roster) as they move. Create an admin first, in another terminal:

         FERRY_CONFIG={INSTANCE}/ferry.toml FERRY_INSTANCE_PATH={INSTANCE} \\
           .venv/bin/flask --app app ferry admin create you@example.com

     (a password now, a passkey of this browser at the first sign-in).

  Ctrl-C stops everything.
================================================================================
""".rstrip()


def supervise(idp: DemoProcess, children: Sequence[DemoProcess], stop: threading.Event) -> int:
    """Watch the children until asked to stop (0) or until Ferry or the app dies (1)."""
    idp_reported = False
    while not stop.wait(0.3):
        for child in children:
            code = child.exit_code()
            if code is None:
                continue
            if child is idp:
                if not idp_reported:
                    idp_reported = True
                    logger.warning(
                        "\n*** The legacy IDP (pid %s) has stopped (%s). Ferry and the demo app "
                        "keep running:\n*** migrated users still sign in; the others cannot until "
                        "it is back.\n*** To switch it back on: %s\n",
                        child.pid,
                        describe_exit(code),
                        " ".join(idp_restart_command(idp.port)),
                    )
                continue
            logger.error(
                "%s stopped on its own (%s). Its last output:\n%s\nStopping the demo.",
                child.title,
                describe_exit(code),
                child.last_output(),
            )
            return 1
    logger.info("Stopping the demo...")
    return 0


def idp_restart_command(port: int) -> list[str]:
    """The command that switches the legacy IDP back on, as the user would type it."""
    python = sys.executable
    if Path(python).is_relative_to(REPO_ROOT):
        python = os.path.relpath(python, REPO_ROOT)
    return [
        python,
        "-m",
        "flask",
        "--app",
        "demo.legacy_idp:create_app",
        "run",
        "--port",
        str(port),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo until Ctrl-C or SIGTERM; the exit status."""
    parser = argparse.ArgumentParser(prog="python -m demo.run", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="empty instance/demo first, so every demo user has to migrate again",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    children: tuple[DemoProcess, ...] = ()
    sink: SmtpSink | None = None
    try:
        timeout = start_timeout(os.environ)
        ports = Ports.from_env(os.environ)
        for port, title, variable in (
            (ports.ferry, "Ferry", "FERRY_PORT"),
            (ports.idp, "legacy IDP", "DEMO_IDP_PORT"),
            (ports.app, "demo app", "DEMO_APP_PORT"),
            (ports.smtp, "demo mailbox (SMTP)", "DEMO_SMTP_PORT"),
        ):
            ensure_free(port, title, variable)
        config = write_config(ports, fresh=args.fresh)
        logger.info("Wrote %s", config.relative_to(REPO_ROOT))
        load_roster(config, f"http://localhost:{ports.ferry}")
        sink = start_mail_sink(ports.smtp)
        idp, ferry, app = children = build_children(ports, config)
        for child in children:
            child.start()
        statuses = wait_until_answering(children, timeout, stop)
        if not statuses:
            return 0
        print(banner(idp, ferry, app, statuses[ferry.label]), flush=True)  # noqa: T201
        return supervise(idp, children, stop)
    except DemoError as exc:
        logger.error("\nThe demo could not start: %s", exc)
        return 1
    finally:
        stop_all(children)
        if sink is not None:
            sink.stop()


if __name__ == "__main__":
    sys.exit(main())
