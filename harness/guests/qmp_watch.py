# SPDX-License-Identifier: GPL-2.0-only
"""QMP in a background thread: collects QEMU's events while the console is read.

QEMU listens on a unix socket in the run directory (`-qmp unix:…,server=on,
wait=off`, so repro.sh works by hand as it is).  The watcher connects with
qemu.qmp's asyncio client on its own event loop, records every event with
its time, and lets the main thread issue commands (quit) safely.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from qemu.qmp import QMPClient

INTERESTING = ("SHUTDOWN", "GUEST_PANICKED", "STOP", "RESET", "GUEST_CRASHLOADED")


class QMPWatcher:
    def __init__(self, socket_path: Path, connect_timeout: float = 10.0):
        self.socket_path = socket_path
        self.connect_timeout = connect_timeout
        self.events: list[dict] = []
        self.connected = threading.Event()
        self.error: str | None = None
        self._loop = asyncio.new_event_loop()
        self._client: QMPClient | None = None
        self._thread = threading.Thread(target=self._run, name="qmp-watch", daemon=True)
        self._stop = asyncio.Event()  # unbound until awaited (Python >= 3.10)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        client = QMPClient("harness")
        deadline = time.monotonic() + self.connect_timeout
        while True:
            try:
                await client.connect(str(self.socket_path))
                break
            except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
                if time.monotonic() > deadline or self._stop.is_set():
                    self.error = f"QMP connect to {self.socket_path} failed: {exc}"
                    return
                await asyncio.sleep(0.05)
        self._client = client
        self.connected.set()
        reader = asyncio.ensure_future(self._read_events(client))
        await self._stop.wait()
        reader.cancel()
        try:
            await client.disconnect()
        except Exception:  # noqa: BLE001 - QEMU may already be gone
            pass

    async def _read_events(self, client: QMPClient) -> None:
        try:
            async for event in client.events:
                self.events.append({"event": event["event"], "data": event.get("data", {}), "time": time.time()})
        except asyncio.CancelledError:
            return
        except Exception:  # noqa: BLE001 - disconnect ends the stream
            return

    def seen(self, name: str) -> dict | None:
        return next((e for e in self.events if e["event"] == name), None)

    def execute(self, command: str, timeout: float = 5.0, arguments: dict | None = None) -> object | None:
        """Run a QMP command from the main thread; None if QMP is not up."""
        try:
            return self.call(command, timeout, arguments)
        except Exception:  # noqa: BLE001 - quit races with QEMU exiting
            return None

    def call(self, command: str, timeout: float = 5.0, arguments: dict | None = None) -> object:
        """Run a QMP command and raise what QEMU (or the wait) said: for commands whose refusal is a finding."""
        if not self.connected.is_set() or self._client is None or self._loop.is_closed():
            raise ConnectionError("QMP is not connected")
        future = asyncio.run_coroutine_threadsafe(self._client.execute(command, arguments), self._loop)
        return future.result(timeout)

    def stop(self) -> None:
        if not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:
                pass
        self._thread.join(timeout=5)
