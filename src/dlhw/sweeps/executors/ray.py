"""The Ray executor: each trial a Ray task, on a private local instance or on a running cluster.

Without ``--address`` (and without RAY_ADDRESS) dlhw starts a private local
instance (``address="local"``, its own temp folder), whatever other Ray
cluster runs on the machine; with one it connects, after checking within
seconds that a Ray cluster answers there and whether it wants a token
(:func:`check_address`). Either way it says which. Ray's own log lines go to
OUT/<sweep>/ray.log, not the console, unless ``--debug``.

Trial folders reach OUT on the driver with or without a shared filesystem:
the driver leaves a marker file in the sweep folder; a worker that sees it
trains straight into OUT, one that does not trains into a temporary folder
of its node and returns the folder as a tar archive, which the driver unpacks
into OUT (:func:`receive`: a temporary name, then a rename). A trial to
resume on such a worker gets its old folder shipped the other way.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import sys
import tarfile
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

from dlhw.errors import ConfigError
from dlhw.rundir.states import Status
from dlhw.sweeps.executors.base import Dispatch, Executor, OnResult, Workers
from dlhw.sweeps.feed import Feed
from dlhw.sweeps.records import Job, Result

RAY_HINT = 'pip install "dlhw[ray]"'
CONNECT_TIMEOUT = 5.0  # seconds to reach a cluster's address before --address is called wrong
LOG_NAME = "ray.log"  # in the sweep folder: what Ray prints, unless --debug
# The HTTP/2 client preface and an empty SETTINGS frame: a Ray GCS (a gRPC server) answers with SETTINGS.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"

PathView = Callable[[Path], Path]  # the driver's path -> the same path as a worker sees it


def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor ray: Ray is not installed; install it with: {RAY_HINT}") from None
    return ray


def cluster_address(address: Optional[str]) -> Optional[str]:
    """The cluster to connect to: --address, else RAY_ADDRESS; None (or 'local'): a private local instance."""
    address = (address or os.environ.get("RAY_ADDRESS") or "").strip()
    return None if address in ("", "local") else address


# ------------------------------------------------------------------ connecting
def _host_port(address: str) -> tuple:
    """'host:port', 'ray://host:port' or 'auto' -> (shown address, host, port)."""
    where = address.split("://", 1)[-1].rstrip("/")
    if address == "auto":
        from ray._private.utils import read_ray_address

        where = read_ray_address() or ""
        if not where:
            raise ConfigError("--address auto: no running Ray cluster found on this machine (start one with "
                              "`ray start --head`, or leave --address out for a private local instance)")
    host, sep, port = where.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"--address: expected HOST:PORT (e.g. 10.0.0.5:6379), ray://HOST:PORT or auto; "
                          f"received '{address}'")
    return where, host.strip("[]"), int(port)


def _probe(host: str, port: int, timeout: float) -> Optional[str]:
    """None when a gRPC server (a Ray GCS or Ray client server) answers at host:port, else why not."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.timeout:
        return f"no answer within {timeout:g} s"
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()
    with sock:
        if os.environ.get("RAY_USE_TLS", "").lower() in ("1", "true"):
            return None  # a TLS handshake comes first: the connection is all that can be checked
        try:
            sock.settimeout(timeout)
            sock.sendall(_H2_PREFACE)
            head = sock.recv(9)
        except OSError as exc:
            return f"connected, then {(exc.strerror or str(exc)).lower()}"
    if len(head) >= 4 and head[3] == 0x04:  # a SETTINGS frame
        return None
    return "something answers there, but not a Ray cluster (use the GCS port of `ray start --head`, 6379 by default)"


@contextmanager
def stderr_to(path: Optional[Path]) -> Iterator[None]:
    """Send what is written to file descriptor 2 (Ray's C++ log lines too) to ``path`` (None: nowhere)."""
    sys.stderr.flush()
    saved = os.dup(2)
    if path:
        from dlhw.runtime.files import open_append

        with open_append(Path(path)) as fh:  # never through a link
            target = os.dup(fh.fileno())
    else:
        target = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(target, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(target)


def _token_line(option: str, where: str) -> str:
    mode = os.environ.get("RAY_AUTH_MODE", "").strip().lower()
    if os.environ.get("RAY_AUTH_TOKEN"):
        source = "RAY_AUTH_TOKEN"
    elif os.environ.get("RAY_AUTH_TOKEN_PATH"):
        source = f"RAY_AUTH_TOKEN_PATH ({os.environ['RAY_AUTH_TOKEN_PATH']})"
    else:
        home = Path.home() / ".ray" / "auth_token"
        source = f"{home}" + ("" if home.is_file() else ", which does not exist on this machine")
    if mode != "token":
        return (f"{option} {where}: this Ray cluster uses token authentication; set RAY_AUTH_MODE=token "
                f"(the token is read from {source}; or RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH)")
    return (f"{option} {where}: this Ray cluster refused the token read from {source}; give it the "
            f"cluster's token (its head node's ~/.ray/auth_token) in RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH")


def check_address(address: Optional[str]) -> None:
    """Raise ConfigError, in seconds and in one line, when no Ray cluster can be used at ``address``
    (or RAY_ADDRESS): nothing answers there, something that is not Ray answers, or the cluster wants a
    token. Nothing to check for a private local instance."""
    import_ray()
    option = "--address" if address else "RAY_ADDRESS"
    address = cluster_address(address)
    if address is None:
        return
    where, host, port = _host_port(address)
    why = _probe(host, port, CONNECT_TIMEOUT)
    if why is not None:
        raise ConfigError(f"{option} {address}: cannot reach a Ray cluster at {where}: {why}")
    if "://" in address:
        return  # a Ray client server: the connection itself tells the rest
    from ray._raylet import GcsClient  # type: ignore[attr-defined]

    try:
        with stderr_to(None):  # Ray logs each refused attempt; the message below says it once
            GcsClient(address=where)
    except Exception as exc:  # noqa: BLE001 - only an authentication failure is told apart here
        if type(exc).__name__ == "AuthenticationError" or "Unauthenticated" in str(exc):
            raise ConfigError(_token_line(option, where)) from None


@contextmanager
def ray_logging(log_path: Optional[Path], debug: bool) -> Iterator[None]:
    """Ray's Python loggers and C++ lines go to ``log_path`` for the Ray session; the console keeps them with --debug."""
    import logging

    if debug or log_path is None:
        yield
        return
    logger = logging.getLogger("ray")
    saved = (list(logger.handlers), logger.propagate)
    from dlhw.runtime.files import open_append

    handler = logging.StreamHandler(open_append(Path(log_path)))  # never through a link
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.handlers[:] = [handler]
    logger.propagate = False
    try:
        with stderr_to(log_path):
            yield
    finally:
        logger.handlers[:], logger.propagate = saved
        handler.close()
        handler.stream.close()


# ------------------------------------------------------------ trial folders
def pack(folder: Path) -> bytes:
    """A trial folder as an uncompressed tar archive (weights hardly compress)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(str(folder), arcname=Path(folder).name)
    return buf.getvalue()


def _extract(data: bytes, dest: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
            return
        for m in tar.getmembers():  # Python without extraction filters: plain files and folders inside dest
            if not (m.isfile() or m.isdir()) or m.name.startswith("/") or ".." in Path(m.name).parts:
                raise tarfile.TarError(f"unsafe member {m.name!r}")
        tar.extractall(dest)


def receive(data: bytes, sweep_dir: Path, name: str) -> Path:
    """Unpack a trial folder shipped back by a worker into ``sweep_dir/name``, replacing an older one:
    unpacked under a temporary name first, so a reader never sees half a folder."""
    sweep_dir = Path(sweep_dir)
    final = sweep_dir / name
    incoming = Path(tempfile.mkdtemp(prefix=f".{name}.incoming-", dir=sweep_dir))
    old = None
    try:
        _extract(data, incoming)
        if not (incoming / name).is_dir():
            raise tarfile.TarError(f"the archive holds no folder {name!r}")
        if final.exists():
            old = sweep_dir / f".{name}.old-{uuid.uuid4().hex[:8]}"
            final.rename(old)
        (incoming / name).rename(final)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return final


def ray_trial(job: Job, marker: str, seed: Optional[list] = None, view: Optional[PathView] = None) -> Result:
    """One trial in a Ray worker. ``marker``: a file the driver left in the sweep folder; a worker that
    sees it writes there, one that does not (no shared filesystem) trains into a folder of its own node
    and ships it back in the result (``archive``). ``seed``: [an ObjectRef of the trial's old folder],
    fetched only to resume here. ``view``: maps the driver's paths to this worker's (tests stand in two
    nodes with it)."""
    from dlhw.sweeps.executors.trial import run_trial

    out = Path(job.out)
    seen = view(out) if view is not None else out
    if (seen / marker).is_file():
        return run_trial(job.replace(out=str(seen)))
    local = Path(tempfile.mkdtemp(prefix="dlhw-trial-"))
    try:
        if job.resume and seed:
            import ray

            _extract(ray.get(seed[0]), local)
        here = job.replace(out=str(local))
        result = run_trial(here)
        return result.replace(archive=pack(here.run_dir)) if here.run_dir.is_dir() else result
    finally:
        shutil.rmtree(local, ignore_errors=True)


# ------------------------------------------------------------------ executor
def _start(ray, address: Optional[str], debug: bool, echo: Callable[[str], None]) -> Optional[str]:
    """ray.init: connect to ``address`` or start a private local instance; returns its temp folder (or None)."""
    import logging

    # configure_logging=True keeps the "ray" logger's handlers (ray_logging's file, or the console with
    # --debug) and sets their level; False would remove them and Python would print Ray's warnings anyway.
    kwargs: Dict[str, Any] = {"include_dashboard": False, "log_to_driver": debug,
                              "configure_logging": True, "logging_level": logging.INFO}
    temp_dir = None
    if address:
        kwargs["address"] = address
    else:
        temp_dir = tempfile.mkdtemp(prefix="dlhw-ray-")  # short: Ray's socket paths live under it
        kwargs.update(address="local", num_cpus=os.cpu_count() or 1, _temp_dir=temp_dir)
    try:
        ray.init(**kwargs)
    except Exception as exc:  # noqa: BLE001 - a cluster that went down, a version mismatch
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)
        where = f"--address {address}" if address else "a private local Ray instance"
        raise ConfigError(f"{where}: Ray did not start: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from None
    res = ray.cluster_resources()
    size = f"{int(res.get('CPU', 0))} CPUs" + (f", {int(res['GPU'])} GPUs" if res.get("GPU") else "")
    if address:
        try:
            nodes = len([n for n in ray.nodes() if n.get("Alive")])
        except Exception:  # noqa: BLE001 - a Ray client connection may not list them
            nodes = 0
        count = f"{nodes} node{'s' if nodes != 1 else ''}, " if nodes else ""
        echo(f"Ray: connected to the cluster at {address} ({count}{size})")
    else:
        from ray._private.utils import read_ray_address

        running = read_ray_address()
        echo(f"Ray: started a private local instance ({size})"
             + (f"; a Ray cluster also runs at {running}: --address {running} uses it" if running else "")
             + (f"; its session files: {temp_dir}" if debug else ""))
    return temp_dir


def run_ray(jobs: "List[Job] | Feed", workers: "int | str", address: Optional[str], on_result: Callable[[Result], None],
            echo: Callable[[str], None] = print, debug: bool = False, view: Optional[PathView] = None,
            sweep_dir: Optional[Path] = None) -> None:
    """Each trial a Ray task; every trial folder ends up in its job's ``out`` on this machine (see the module doc).
    ``jobs``: a list (all submitted at once, Ray schedules them) or a dlhw.sweeps.feed.Feed made on demand
    (a search: ``workers`` tasks in flight, the next asked for as one ends; ``sweep_dir`` names its folder)."""
    ray = import_ray()
    address = cluster_address(address)
    feed = Feed.of(jobs)
    first = None if feed.on_demand else feed.peek()
    sweep_dir = Path(sweep_dir) if sweep_dir is not None else Path(first.out) if first is not None else None
    queued = {Path(j.out) for j in feed.left(keep=True)}
    outs = ({sweep_dir} if sweep_dir is not None else set()) if feed.on_demand else queued
    log_path = sweep_dir / LOG_NAME if sweep_dir is not None else None
    marker = f".dlhw-ray-{uuid.uuid4().hex}"
    auth_mode = os.environ.get("RAY_AUTH_MODE")  # a new local instance sets it for this process
    with ray_logging(log_path, debug):
        started, temp_dir = False, None
        if ray.is_initialized():
            echo("Ray: using the Ray session this process already started")
        else:
            temp_dir = _start(ray, address, debug, echo)
            started = True
        try:
            for d in outs:
                (d / marker).touch()
            _run_tasks(ray, feed, workers, on_result, marker, view)
        finally:
            for d in outs:
                (d / marker).unlink(missing_ok=True)
            if started:
                ray.shutdown()
                if auth_mode is None:
                    os.environ.pop("RAY_AUTH_MODE", None)
            if temp_dir and not debug:
                shutil.rmtree(temp_dir, ignore_errors=True)


def _run_tasks(ray: Any, feed: Feed, workers: "int | str", on_result: Callable[[Result], None], marker: str,
               view: Optional[PathView]) -> None:
    """Submit the feed's jobs as Ray tasks (a list: all at once; on demand: ``workers`` in flight),
    each result to on_result as it ends; Ctrl-C cancels the tasks in flight."""
    resources = ray.cluster_resources()
    cpus = max(1, int(resources.get("CPU", 1)))
    n = max(1, min(feed.size() or cpus, cpus)) if workers == "auto" else int(workers)  # auto: one task per CPU
    threads = max(1, cpus // n)
    gpus = 1 if resources.get("GPU", 0) >= 1 else 0
    task = ray.remote(ray_trial).options(num_cpus=threads, num_gpus=gpus, max_retries=0)
    in_flight = n if feed.on_demand else None  # a list: everything at once
    refs: Dict[Any, Job] = {}

    def submit() -> bool:
        job = feed.take()
        if job is None:
            return False
        job = job.replace(threads=threads)
        seed = [ray.put(pack(job.run_dir))] if job.resume and job.run_dir.is_dir() else None
        refs[task.remote(job, marker, seed, view)] = job
        return True

    try:
        while (in_flight is None or len(refs) < in_flight) and submit():
            pass
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                on_result(_collect(ray, ref, refs.pop(ref)))
            while (in_flight is None or len(refs) < in_flight) and submit():
                pass
    except KeyboardInterrupt:
        for ref in list(refs):
            ray.cancel(ref, force=True)
        raise


def _collect(ray, ref, job: Job) -> Result:
    """A finished task's result, its shipped folder unpacked into OUT; a task or node that died: failed."""
    try:
        res = ray.get(ref)
    except Exception as exc:  # noqa: BLE001 - a task or node died
        return Result(job.name, Status.FAILED,
                      error=f"Ray task failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
    archive, res = res.archive, res.replace(archive=None)
    if archive is not None:
        try:
            receive(archive, Path(job.out), job.run_dir.name)
        except (OSError, tarfile.TarError) as exc:
            res = res.replace(status=Status.FAILED, error=f"the trial folder shipped back by its Ray worker could not be "
                                                     f"written to {job.out}: {exc}")
    return res


class RayExecutor(Executor):
    """``--executor ray``: each trial a Ray task (see the module doc); ``--workers auto``: as many
    at once as the cluster's CPUs hold."""

    name = "ray"
    takes_address = True

    def check(self, address: Optional[str]) -> None:
        check_address(address)  # a missing extra or a wrong --address: found before anything runs

    def workers(self, requested: Workers, trials: int, gpus: List[str]) -> Workers:
        return requested  # "auto" stays: the cluster's CPUs decide (run_ray)

    def where(self, workers: Workers, jobs: int, gpus: List[str], auto: bool) -> str:
        if workers == "auto":
            return "via Ray, as many workers as the cluster's CPUs hold"
        n = max(1, min(int(workers), jobs))
        return f"via Ray, {n} worker{'s' if n > 1 else ''}"

    def run(self, feed: Feed, on_result: OnResult, where: Dispatch) -> None:
        run_ray(feed, where.workers, where.address, on_result, echo=where.echo, debug=where.debug,
                sweep_dir=where.sweep_dir)


EXECUTOR = RayExecutor()
