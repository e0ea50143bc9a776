"""A TCP relay in front of the API server that can start refusing, so a client loses the API server in the
middle of its work while the test's own client (straight to the API server) keeps it."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

from tests.testenv import free_port


class Gate:
    """Relays 127.0.0.1:`port` to `server` (an https URL). `shut()` drops every connection and stops
    listening, so connecting is refused; `open()` listens again on the same port."""

    def __init__(self, server: str) -> None:
        target = urlsplit(server)
        assert target.hostname is not None, server
        assert target.port is not None, server
        self.target = (target.hostname, target.port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.open()

    def kubeconfig(self, original: Path, copy: Path) -> Path:
        """A copy of `original` (a JSON kubeconfig of `server`) that goes through the gate."""
        config = json.loads(original.read_text())
        config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{self.port}"
        copy.write_text(json.dumps(config))
        return copy

    def open(self) -> None:
        assert self._listener is None, "already open"
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def shut(self) -> None:
        with self._lock:
            closing = [self._listener, *self._sockets] if self._listener else self._sockets
            self._listener, self._sockets = None, []
        for sock in closing:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the threads blocked in accept and recv
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                near, _ = listener.accept()
            except OSError:
                return  # shut
            try:
                far = socket.create_connection(self.target, timeout=5)
            except OSError:
                near.close()
                continue
            far.settimeout(None)
            with self._lock:
                self._sockets += [near, far]
            for source, sink in ((near, far), (far, near)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # the other direction ends too
        with self._lock:
            for sock in (source, sink):
                if sock in self._sockets:
                    self._sockets.remove(sock)
                    sock.close()
