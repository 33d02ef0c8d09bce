"""Ferry's INFO lines reach stderr under a plain server (nothing configured logging), one line
each with time, level and logger; a logging configuration of the operator's, and tests, are
left alone (``settings/logging_setup.py``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO ferry\.check: hello from Ferry$",
                  re.MULTILINE)


def run(tmp_path, testing: bool, before: str = "") -> subprocess.CompletedProcess:
    script = f"""
import logging
{before}
from app import create_app
config = {{"TESTING": {testing}, "SECRET_KEY": "k", "ISSUER": "http://localhost", "CONFIG_FILE": None,
          "DATABASE_URL": "sqlite:///{tmp_path}/ferry.db", "DEPLOYMENT": {{"apps": {{}}}}}}
create_app(config)
create_app(config)  # a second app adds no second handler
logging.getLogger("ferry.check").info("hello from Ferry")
print(len(logging.getLogger().handlers))
"""
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)


def test_info_lines_reach_stderr_with_no_logging_configured(tmp_path):
    done = run(tmp_path, testing=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
    assert len(LINE.findall(done.stderr)) == 1, done.stderr


def test_a_configured_root_logger_is_left_alone(tmp_path):
    done = run(tmp_path, testing=False,
               before="logging.basicConfig(format='mine %(message)s', level=logging.INFO)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
    assert "mine hello from Ferry" in done.stderr and not LINE.search(done.stderr)


def test_tests_get_no_handler(tmp_path):
    done = run(tmp_path, testing=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0" and "hello from Ferry" not in done.stderr
