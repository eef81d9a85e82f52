"""Ending a process that imported TensorFlow without Python's slow shutdown.

Once ``dlhw run`` or ``dlhw sweep`` is done, Python's normal shutdown spends
~1.2 s (measured on a 2-core machine; a plain Keras script pays the same) tearing
down TensorFlow's thousands of modules and running its exit hooks, after every
result is already on disk. That time goes to finalising modules, not to exit
hooks: :func:`exit_now` runs the ``atexit`` hooks (TensorFlow's autograph removes
its temporary files there, logging flushes its handlers), flushes the standard
streams and ends the process with ``os._exit``: every file dlhw writes
is written atomically and closed before its command returns, TensorBoard writers
are flushed at the end of training, and a sweep's pool and Ray are shut down
explicitly.

The normal shutdown is kept when TensorFlow was never imported (nothing to
gain), under a tracer or profiler (coverage, cProfile write their data at exit),
and when ``DLHW_NORMAL_EXIT=1``.
"""

from __future__ import annotations

import os
import sys


def wanted() -> bool:
    return ("tensorflow" in sys.modules and sys.gettrace() is None and sys.getprofile() is None
            and os.environ.get("DLHW_NORMAL_EXIT", "") in ("", "0"))


def exit_now(code: int, run_atexit: bool = True) -> None:
    """os._exit(code) after the atexit hooks and flushing, when :func:`wanted`; otherwise return
    (the caller exits normally). ``run_atexit=False`` when called as the first-registered
    atexit hook itself (sweep workers): every later-registered hook has run by then."""
    if not wanted():
        return
    if run_atexit:
        import atexit

        atexit._run_exitfuncs()  # CPython's own shutdown step; each hook runs once, then the list is cleared
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing left to write
            pass
    os._exit(code)


def exit_code(exc: SystemExit) -> int:
    """The process exit code ``sys.exit`` would give for ``exc``."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # sys.exit("message"): printed, status 1
    return 1
