"""fastexit: a process that used TensorFlow ends at once, its output flushed, its exit code kept."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dlhw.runtime.fastexit import exit_code

SCRIPT = """
import sys, logging, atexit
import tensorflow  # the fast exit only applies once TensorFlow is loaded
atexit.register(lambda: sys.stderr.write("atexit hook ran\\n"))  # e.g. autograph removing its temporary files
logging.basicConfig(stream=sys.stderr)
logging.getLogger("x").warning("logged before exit")
sys.stdout.write("partial line, still buffered")
from dlhw.runtime.fastexit import exit_now
exit_now(3)
print(" / exit_now returned")
"""


@pytest.mark.parametrize("normal", [False, pytest.param(True, marks=pytest.mark.slow)])  # issue 28: 30 s each
def test_exit_now_flushes_and_keeps_the_code(normal):
    env = {"DLHW_NORMAL_EXIT": "1"} if normal else {"DLHW_NORMAL_EXIT": ""}
    import os

    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env})
    assert "logged before exit" in res.stderr
    assert res.stderr.count("atexit hook ran") == 1
    if normal:  # opted out: the call returns and Python exits as usual
        assert res.returncode == 0 and res.stdout.endswith(" / exit_now returned\n")
    else:
        assert res.returncode == 3 and res.stdout == "partial line, still buffered"


def test_exit_code_follows_sys_exit(capsys):
    assert exit_code(SystemExit(None)) == 0
    assert exit_code(SystemExit(2)) == 2
    assert exit_code(SystemExit("boom")) == 1
    assert "boom" in capsys.readouterr().err
