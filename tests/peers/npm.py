"""Installing a peer's npm packages into its own folder, once: ``npm ci`` from the committed
lock file (``npm install`` without one). Every Node.js peer (oidc-provider, openid-client,
axe-core) keeps a package.json and package-lock.json beside its Python module."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

#: Seconds npm may take (a cold cache on a slow mirror).
NPM_TIMEOUT = 300.0


def ensure_installed(folder: Path, marker: Path, error: type[Exception]) -> None:
    """Run npm in ``folder`` unless ``marker`` (a file the install creates) exists already.

    Raises ``error`` with npm's output when npm is missing or fails.
    """
    if marker.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise error("npm is not installed (Node.js 20 or newer is needed)")
    command = "ci" if (folder / "package-lock.json").exists() else "install"
    done = subprocess.run(
        [npm, command, "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder,
        capture_output=True, text=True, timeout=NPM_TIMEOUT, check=False,
    )
    if done.returncode != 0 or not marker.exists():
        raise error(f"npm {command} failed:\n{done.stdout}\n{done.stderr}")
