"""dlhw's messages go through the standard logging module under the ``dlhw`` logger
(dlhw.runtime.log): caplog sees them, quiet silences them, the API prints them (its
diagnostics too) only where the program has not configured logging."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO, make_image_folder


def test_a_warning_goes_through_the_dlhw_logger(tmp_path, caplog):
    from dlhw.data.images import list_class_folder

    root = make_image_folder(tmp_path / "f", per_class=2, size=8)
    (root / "cat" / "notes.txt").write_text("not an image")
    list_class_folder(root)
    records = [r for r in caplog.records if "notes.txt" in r.getMessage()]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    assert records[0].name == "dlhw.data.images"


def test_the_terminal_handler_prints_info_on_stdout_and_warnings_on_stderr(capsys):
    from dlhw.runtime.log import TerminalHandler, get_logger

    log = get_logger("dlhw.tests.handler")
    handler = TerminalHandler()
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False  # this handler alone (a CLI test earlier in the process may have set up the dlhw logger's)
    try:
        log.info("hello %s", "there")
        log.warning("careful")
        log.debug("hidden")
    finally:
        log.removeHandler(handler)
        log.setLevel(logging.NOTSET)
        log.propagate = True
    out, err = capsys.readouterr()
    assert out == "hello there\n" and err == "warning: careful\n"  # not a terminal: no control codes


def test_quieted_keeps_warnings_only_and_gives_the_level_back(caplog):
    from dlhw.runtime.log import get_logger, quieted

    caplog.set_level(logging.INFO, logger="dlhw")
    log = get_logger("dlhw.tests.quiet")
    with quieted(True):
        log.info("not shown")
        log.warning("shown")
    log.info("shown again")
    assert [r.getMessage() for r in caplog.records if r.name == log.name] == ["shown", "shown again"]
    assert logging.getLogger("dlhw").level == logging.INFO


def test_the_api_installs_no_handler_where_logging_is_configured():
    from dlhw.runtime.log import TerminalHandler, ensure_default_handler, get_logger, logging_configured

    before = list(get_logger().handlers)
    if any(isinstance(h, TerminalHandler) for h in before):
        pytest.skip("a CLI test in this process installed dlhw's handler already")
    assert logging_configured()  # pytest's own handlers sit on the root logger
    assert ensure_default_handler() is False and get_logger().handlers == before


def test_take_warnings_returns_what_was_logged_since_the_last_call():
    from dlhw.runtime.log import get_logger, take_warnings

    take_warnings()
    get_logger("dlhw.tests.collect").warning("one")
    get_logger("dlhw.tests.collect").info("not a warning")
    assert take_warnings() == ["one"] and take_warnings() == []


SCRIPT = """
import dlhw
from dlhw.runtime.log import get_logger

get_logger("dlhw.script").warning("before any set-up")   # logging's last resort: still shown
over = {"training.epochs": 3, "training.optimizer.learning_rate": 0.05}
dlhw.run(CONFIG, over, out=OUT, name="loud", progress=False)
print("----")
dlhw.run(CONFIG, over, out=OUT, name="quiet", quiet=True)
print("----")
"""


def test_a_script_sees_the_runs_diagnostics_and_quiet_silences_them(tmp_path):
    """Issue 28: runs started from the API print the diagnostics the CLI prints; quiet=True silences them."""
    code = SCRIPT.replace("CONFIG", repr(str(REPO / "configs" / "quickstart.yaml"))).replace("OUT", repr(str(tmp_path)))
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=600,
                       cwd=tmp_path, env={**__import__("os").environ, "PYTHONPATH": str(REPO / "src")})
    assert r.returncode == 0, r.stderr[-2000:]
    loud, quiet, _ = r.stdout.split("----\n")
    assert "warning: before any set-up" in r.stderr
    import json

    findings = json.loads((tmp_path / "loud" / "metrics.json").read_text())["diagnostics"]
    assert findings, "the overconfident run should have a diagnostic"
    assert f"run folder: {tmp_path / 'loud'}" in loud
    assert all(f"diagnostic {f['kind']}: " in loud for f in findings), loud
    assert "diagnostic" not in quiet and "run folder" not in quiet and "Epoch" not in quiet, quiet
