"""A partner's webhook endpoint for tests: a threaded HTTP(S) server on 127.0.0.1 that records
every request and answers from a script.

    with Receiver([Reply(500), Reply(500), Reply(200)]) as receiver:
        deliver_to(receiver.url + "/hooks")
        first, second, third = receiver.wait_for(3)

Replies are used in order; once the script runs out, every request gets ``default``. A reply can
wait before answering, stream its body slowly, be huge, or be raw bytes (a broken or dribbled
status line), which is what a hostile or overloaded partner looks like from our side.
"""

from __future__ import annotations

import datetime
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.client import HTTPMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds of silence before the status line
    chunk_size: int | None = None  # send the body (or ``raw``) in pieces of this many bytes...
    chunk_interval: float = 0.0  # ...with this pause between pieces
    chunked: bool = False  # Transfer-Encoding: chunked instead of Content-Length
    raw: bytes | None = None  # exactly these bytes instead of a formed response


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str  # the request target: path and query
    headers: HTTPMessage  # case-insensitive: headers["webhook-id"]
    body: bytes
    arrived_at: float  # time.monotonic() once the body was in


class Receiver:
    """Start it (or use it as a context manager), point a URL at ``url``, then read ``requests``.

    ``_record`` is the one hook for subclasses: it gets each request once its body is in and
    returns the reply; overriding it lets a receiver answer some requests itself.
    """

    def __init__(self, script: Iterable[Reply] = (), *, default: Reply | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self._script = list(script)
        self._default = default or Reply()
        self._requests: list[ReceivedRequest] = []
        self._arrived = threading.Condition()
        self._closing = threading.Event()
        self._ssl_context = ssl_context
        self._server: ThreadingHTTPServer | None = None
        self._port: int | None = None  # kept after close, for assertions
        self._thread: threading.Thread | None = None

    # --- lifecycle ---

    def start(self) -> Self:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.receiver = self
        if self._ssl_context is not None:
            # the handshake happens in the handler's thread, so a silent client blocks no one
            server.socket = self._ssl_context.wrap_socket(server.socket, server_side=True,
                                                          do_handshake_on_connect=False)
        self._server, self._port = server, server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="webhook-receiver", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # replies still streaming stop at their next piece
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- what tests use ---

    @property
    def port(self) -> int:
        assert self._port is not None, "start the receiver first"
        return self._port

    @property
    def url(self) -> str:
        """The base URL, without a trailing slash: ``receiver.url + "/hooks"``."""
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._arrived:
            return list(self._requests)

    def add(self, *replies: Reply) -> None:
        """Append replies to the script."""
        with self._arrived:
            self._script.extend(replies)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        """The first ``count`` requests, waiting up to ``timeout`` seconds for them to arrive."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._requests) >= count, timeout):
                raise AssertionError(f"expected {count} requests, got {len(self._requests)}")
            return list(self._requests[:count])

    # --- used by the handler ---

    def _record(self, request: ReceivedRequest) -> Reply:
        with self._arrived:
            self._requests.append(request)
            self._arrived.notify_all()
            return self._script.pop(0) if self._script else self._default

    def _pause(self, seconds: float) -> bool:
        """Sleep unless the receiver is closing; True if it still runs."""
        return not self._closing.wait(seconds) if seconds > 0 else not self._closing.is_set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks for the host's FQDN, a reverse DNS lookup tests must not make
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address) -> None:
        pass  # a client hanging up mid-reply is part of what these tests do


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (OSError, ssl.SSLError):
            self.close_connection = True

    def _answer(self) -> None:
        receiver = self.server.receiver
        body = self._read_body()
        reply = receiver._record(ReceivedRequest(method=self.command, path=self.path,
                                                 headers=self.headers, body=body,
                                                 arrived_at=time.monotonic()))
        self.close_connection = True
        if not receiver._pause(reply.delay):
            return
        if reply.raw is not None:
            self._send(b"", reply.raw, reply)
        else:
            self._send(self._head(reply), _chunked(reply.body) if reply.chunked else reply.body, reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            pieces = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                pieces.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(pieces)
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _head(self, reply: Reply) -> bytes:
        headers = {"Date": self.date_time_string(), "Connection": "close", **reply.headers}
        names = {name.lower() for name in headers}
        if reply.chunked:
            headers.setdefault("Transfer-Encoding", "chunked")
        elif "content-length" not in names:
            headers["Content-Length"] = str(len(reply.body))
        reason = self.responses.get(reply.status, ("",))[0]
        head = f"HTTP/1.1 {reply.status} {reason}\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
        return head.encode("latin-1")

    def _send(self, head: bytes, data: bytes, reply: Reply) -> None:
        """``head`` at once, then ``data`` piece by piece as the reply asks."""
        step = reply.chunk_size or len(data) or 1
        receiver = self.server.receiver
        try:
            if head:
                self.wfile.write(head)
                self.wfile.flush()
            for start in range(0, len(data), step):
                if start and not receiver._pause(reply.chunk_interval):
                    return
                self.wfile.write(data[start:start + step])
                self.wfile.flush()
        except OSError:
            pass  # the client gave up: exactly what a size or time limit does

    def log_message(self, format, *args) -> None:
        pass


def _chunked(body: bytes, piece: int = 8192) -> bytes:
    out = bytearray()
    for start in range(0, len(body), piece):
        chunk = body[start:start + piece]
        out += b"%x\r\n%b\r\n" % (len(chunk), chunk)
    return bytes(out + b"0\r\n\r\n")


def unused_port() -> int:
    """A local port nothing listens on (it was free a moment ago), for "connection refused"."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tls_certificate(directory: Path, *hostnames: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``hostnames`` (also its own CA): (certificate, key) PEM paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hostnames]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{hostnames[0]}.crt", directory / f"{hostnames[0]}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def tls_server_context(certificate: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    return context
