"""Screenshot a web page with headless Chromium through the DevTools protocol.

Used to check the viewer draws (tests) and to look at the report. Chromium is
started with a fresh profile, no network services and software WebGL
(SwiftShader), told to load ``url``, given ``wait_s`` seconds (the viewer
streams its scene over a websocket after the page loads), then asked for a PNG.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-unsafe-swiftshader", "--use-angle=swiftshader", "--hide-scrollbars", "--mute-audio")


def find_chromium() -> str | None:
    """Path of a Chromium / Chrome binary on PATH, or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(url: str, path: str | Path, *, wait_s: float = 8.0, size: tuple[int, int] = (1280, 800),
               timeout_s: float = 60.0, chromium: str | None = None) -> Path:
    """Load ``url`` headless, wait ``wait_s`` s after the load event, write a PNG to ``path``.

    Raises:
        FileNotFoundError: no Chromium found.
        RuntimeError: Chromium did not start or answer within ``timeout_s``.
    """
    from websockets.sync.client import connect

    binary = chromium or find_chromium()
    if binary is None:
        raise FileNotFoundError("no chromium binary on PATH (Debian: apt-get install chromium)")
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="viz-chromium-") as profile:
        proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                                 f"--window-size={size[0]},{size[1]}", "about:blank"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + timeout_s
            while not port_file.is_file() or len(port_file.read_text().split()) < 2:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"{binary} did not start its DevTools endpoint")
                time.sleep(0.1)
            port = int(port_file.read_text().split()[0])
            import urllib.request

            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
                targets = json.loads(resp.read())
            page = next(t for t in targets if t.get("type") == "page")
            with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as ws:
                counter = iter(range(1, 10**6))

                def call(method: str, **params: Any) -> Any:
                    ident = next(counter)
                    ws.send(json.dumps({"id": ident, "method": method, "params": params}))
                    while True:
                        msg = json.loads(ws.recv(timeout=max(1.0, deadline - time.monotonic())))
                        if msg.get("id") == ident:
                            if "error" in msg:
                                raise RuntimeError(f"DevTools {method}: {msg['error']}")
                            return msg.get("result", {})

                call("Page.enable")
                call("Emulation.setDeviceMetricsOverride", width=size[0], height=size[1], deviceScaleFactor=1, mobile=False)
                call("Page.navigate", url=url)
                time.sleep(wait_s)
                shot = call("Page.captureScreenshot", format="png")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(base64.b64decode(shot["data"]))
            return path
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
