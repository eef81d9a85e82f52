"""report.html in a real browser: headless Chromium, driven over the Chrome DevTools Protocol.

A small sweep report (generated run folders, two varied keys) is opened from file://; the test
takes a screenshot, asserts that nothing was logged as an error and that nothing was fetched
from the network, and uses the page as a person would: clicking a column header sorts the table
(its first row changes), the filters hide rows, a legend entry hides its curve, the mouse over a
curve shows its value, the parallel-coordinates chart is drawn and a run's details open with its
curves. The DevTools websocket is spoken with the standard library (no websocket package).

Skipped, with the reason, only when no Chromium can be found (.ci/run installs Debian's package).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from dlhw.reports import make_report
from tests.conftest import wait_for
from tests.reports.test_report import write_sweep

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_browser() -> str | None:
    for name in (os.environ.get("DLHW_CHROMIUM"), *BROWSERS):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class DevTools:
    """A minimal websocket client (RFC 6455: masked text frames out, any frames in) for one page."""

    def __init__(self, ws_url: str, timeout: float = 60.0):
        rest = ws_url.split("://", 1)[1]
        hostport, path = rest.split("/", 1)
        host, port = hostport.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the handshake")
            head += chunk
        assert b" 101 " in head.split(b"\r\n", 1)[0], head
        self.next_id = 0
        self.events: list[dict] = []

    def _exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            buf += chunk
        return buf

    def _send(self, text: str) -> None:
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
                                if n < 2 ** 16 else bytes([0x80 | 127]) + struct.pack(">Q", n))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _receive(self) -> dict:
        message = b""
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._exact(8))[0]
            payload = self._exact(n)
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the websocket")
            if opcode in (0x9, 0xA):  # ping / pong: not part of a message
                continue
            message += payload
            if b0 & 0x80:
                return json.loads(message)

    def call(self, method: str, **params):
        self.next_id += 1
        self._send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = self._receive()
            if msg.get("id") == self.next_id:
                assert "error" not in msg, (method, msg["error"])
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 60.0) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for e in self.events:
                if e.get("method") == method:
                    self.events.remove(e)
                    return e
            self.events.append(self._receive())
        raise TimeoutError(method)

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def click(self, x: float, y: float) -> None:
        self.move(x, y)
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def move(self, x: float, y: float) -> None:
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)


@pytest.fixture
def browser(tmp_path):
    exe = find_browser()
    if exe is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set DLHW_CHROMIUM to a Chrome binary)")
    proc = subprocess.Popen([exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--no-default-browser-check", "--disable-extensions", "--remote-debugging-port=0",
                             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,900", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        end = time.monotonic() + 90
        while port is None and time.monotonic() < end:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                pytest.fail(f"{exe} exited with {proc.returncode} before DevTools listened")
            if "DevTools listening on ws://" in line:
                port = int(line.split("ws://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
        assert port, f"{exe}: no DevTools port within 90 s"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as fh:
            pages = [t for t in json.load(fh) if t.get("type") == "page"]
        page = DevTools(pages[0]["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.call(f"{domain}.enable")
        yield page
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def center(page: DevTools, selector: str) -> list:
    """The middle of the element ``selector`` matches, scrolled into view, in viewport pixels."""
    return page.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView({{block: 'center'}});"
                   " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")


def errors_of(events: list) -> list:
    out = []
    for e in events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.exceptionThrown":
            out.append(p["exceptionDetails"].get("exception", {}).get("description") or p["exceptionDetails"]["text"])
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
            out.append(" ".join(str(a.get("value", a.get("description"))) for a in p.get("args", [])))
        elif m == "Log.entryAdded" and p["entry"].get("level") in ("error", "warning"):
            out.append(p["entry"].get("text"))
    return out


def small_sweep(root: Path) -> Path:
    """Three trials over two varied keys (a parallel-coordinates chart), one of them failed."""
    return write_sweep(root / "grid", "grid", [
        ("units-8_lr-0.1", "units-8_lr-0.1", {"model.units": 8, "training.lr": 0.1}, "completed", 0.62, {"epochs": 4}),
        ("units-32_lr-0.01", "units-32_lr-0.01", {"model.units": 32, "training.lr": 0.01}, "completed", 0.91,
         {"epochs": 4}),
        ("units-64_lr-0.001", "units-64_lr-0.001", {"model.units": 64, "training.lr": 0.001}, "failed", 0.0,
         {"error": "DataError: <b>bad</b> file", "epochs": 2}),
    ])


def test_report_in_headless_chromium(browser, tmp_path):
    make_report([small_sweep(tmp_path / "runs")], tmp_path / "out")
    page = browser
    page.call("Page.navigate", url=(tmp_path / "out" / "report.html").as_uri())
    page.wait_for("Page.loadEventFired")
    assert page.js("document.documentElement.classList.contains('js')")  # the script ran to its end

    shot = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
    (tmp_path / "report.png").write_bytes(shot)
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 10_000

    first = "document.querySelector('#runs tbody tr:not(.hidden)').cells[0].getAttribute('data-s')"
    column = "[...document.querySelectorAll('#runs tbody tr')].map(tr => tr.cells[{}].textContent.trim())"
    keys = page.js("[...document.querySelectorAll('#runs th')].map(th => th.getAttribute('data-key'))")
    assert page.js(first) == "units-32_lr-0.01"  # sorted by val_accuracy, best first
    page.click(*center(page, '#runs th[data-key="val_accuracy"]'))  # a real mouse click: now worst first
    assert page.js(first) == "units-8_lr-0.1"  # the first row changed
    assert page.js(column.format(keys.index("val_accuracy"))) == ["0.6200", "0.9100", "-"]  # no value: last
    page.click(*center(page, '#runs th[data-key="run"]'))  # by name, numbers in names as numbers
    order = page.js("[...document.querySelectorAll('#runs tbody tr')].map(tr => tr.cells[0].getAttribute('data-s'))")
    assert order == ["units-8_lr-0.1", "units-32_lr-0.01", "units-64_lr-0.001"]
    page.click(*center(page, '#runs th[data-key="run"]'))  # again: the other way
    assert page.js(first) == "units-64_lr-0.001"
    page.js("document.querySelector('#runs th[data-key=\"varied:training.lr\"]').click()")  # as numbers, largest first
    assert page.js(column.format(keys.index("varied:training.lr"))) == ["0.1", "0.01", "0.001"]

    page.js("{ const s = document.getElementById('status-filter'); s.value = 'failed'; s.dispatchEvent(new Event('change')) }")
    assert page.js(first) == "units-64_lr-0.001" and "1 of 3" in page.js("document.getElementById('row-count').textContent")
    page.js("{ const s = document.getElementById('status-filter'); s.value = ''; s.dispatchEvent(new Event('change'));"
            "const t = document.getElementById('text-filter'); t.value = 'UNITS-8'; t.dispatchEvent(new Event('input')) }")
    assert page.js(first) == "units-8_lr-0.1" and "1 of 3" in page.js("document.getElementById('row-count').textContent")

    # the curves: one line per trial with a history; a legend click hides one; the value under the mouse
    lines = "document.querySelectorAll('.curves .ichart path.line').length"
    assert page.js(lines) == 3
    legend = center(page, ".curves .legend button")
    page.click(*legend)
    assert page.js(lines) == 2 and page.js("document.querySelector('.curves .legend button').classList.contains('off')")
    page.move(*center(page, ".curves .ichart circle[fill]"))
    tip = page.js("document.querySelector('.curves .tip').textContent")
    assert "epoch" in tip and ":" in tip, tip
    page.js("document.querySelector('.curves button[data-split=\"train\"]').click()")
    assert "train" in page.js("document.querySelector('.curves svg').getAttribute('aria-label')")

    assert page.js("document.querySelectorAll('.pcoords svg path.pline').length") == 3
    page.js("document.getElementById('run-0').open = true")
    wait_for(lambda: page.js("document.querySelectorAll('#run-0 .runchart svg path.line').length") == 2, 10)
    assert page.js("document.querySelectorAll('#run-0 .runchart svg path.line').length") == 2  # train and val
    assert page.js("!!document.querySelector('#run-0 table.diff')")

    assert errors_of(page.events) == []
    requests = [e["params"]["request"]["url"] for e in page.events if e.get("method") == "Network.requestWillBeSent"]
    assert requests and all(u.startswith(("file:", "data:")) for u in requests), requests


def test_claims_section_in_headless_chromium(browser, tmp_path):
    """The committed tiny sweep (three claims): the Claims section comes first, each claim's verdict,
    every run as a point and each side's interval drawn, nothing logged as an error."""
    from tests.reports.test_report import REPO_FIXTURE_CLAIMS

    sweep = Path(shutil.copytree(REPO_FIXTURE_CLAIMS, tmp_path / "claims_tiny"))
    make_report([sweep], tmp_path / "out")
    page = browser
    page.call("Page.navigate", url=(tmp_path / "out" / "report.html").as_uri())
    page.wait_for("Page.loadEventFired")
    assert page.js("document.querySelector('h2').textContent") == "Claims"
    verdicts = page.js("[...document.querySelectorAll('#claims .claim')].map(c => c.dataset.verdict)")
    assert verdicts == ["held", "refuted", "inconclusive"]
    assert page.js("document.querySelectorAll('#claims svg.claim-strip circle.run').length") == 18
    widths = page.js("[...document.querySelectorAll('#claims svg.claim-strip line.ci')]"
                     ".map(l => l.getBoundingClientRect().width)")
    assert len(widths) == 6 and all(w > 1 for w in widths)  # each interval drawn with a visible length
    assert page.js("document.querySelector('nav a').getAttribute('href')") == "#claims"
    shot = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    assert errors_of(page.events) == []
