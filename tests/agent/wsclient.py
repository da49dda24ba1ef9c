"""A minimal WebSocket client (RFC 6455) on the standard library, for tests.

It plays callbridge's side of the agent link against cb-test-agent and
echo-agent: connect with any headers, send text/binary/close frames (masked,
optionally fragmented), receive frames with a timeout. Every blocking call is
bounded by the socket timeout.

    ws = WsClient.connect("ws://127.0.0.1:8089/play", headers={"X-A": "1"})
    ws.send_text('{"event":"connected"}')
    kind, data = ws.recv()          # ("text", str) | ("binary", bytes)
                                    # | ("close", (code, reason))
    ws.close()
"""

import base64
import hashlib
import os
import socket
import ssl
import struct
import urllib.parse

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def mask_payload(payload, mask):
    """payload XOR the 4-byte mask repeated (RFC 6455 5.3), as one big
    integer operation: a few milliseconds for 800 KB, where a byte loop in
    Python takes 100 ms or more."""
    n = len(payload)
    if not n:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^
            int.from_bytes(key, "big")).to_bytes(n, "big")


class HandshakeError(Exception):
    """The server refused the upgrade; status is the HTTP status code."""

    def __init__(self, status, head):
        super().__init__("upgrade refused: HTTP %d" % status)
        self.status = status
        self.head = head


class WsClient:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.closed = False

    # -- connection --------------------------------------------------

    @classmethod
    def connect(cls, url, headers=None, timeout=10.0, ssl_context=None,
                raw_head=None):
        """Open a WebSocket. headers: dict or list of (name, value).
        raw_head: send these bytes as the whole request head instead."""
        u = urllib.parse.urlsplit(url)
        port = u.port or (443 if u.scheme == "wss" else 80)
        sock = socket.create_connection((u.hostname, port), timeout=timeout)
        sock.settimeout(timeout)
        if u.scheme == "wss":
            ctx = ssl_context or ssl.create_default_context()
            sock = ctx.wrap_socket(sock, server_hostname=u.hostname)
        self = cls(sock)
        key = base64.b64encode(os.urandom(16)).decode()
        target = u.path or "/"
        if u.query:
            target += "?" + u.query
        if raw_head is None:
            lines = ["GET %s HTTP/1.1" % target,
                     "Host: %s:%d" % (u.hostname, port),
                     "Upgrade: websocket", "Connection: Upgrade",
                     "Sec-WebSocket-Key: " + key,
                     "Sec-WebSocket-Version: 13"]
            items = headers.items() if isinstance(headers, dict) \
                else (headers or [])
            for name, value in items:
                lines.append("%s: %s" % (name, value))
            raw_head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        sock.sendall(raw_head)
        head = self._read_head()
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() \
            else 0
        if status != 101:
            sock.close()
            raise HandshakeError(status, head)
        hdrs = {}
        for line in head.split(b"\r\n")[1:]:
            if b":" in line:
                n, v = line.split(b":", 1)
                hdrs[n.strip().lower().decode()] = v.strip().decode()
        want = base64.b64encode(hashlib.sha1(
            (key + GUID).encode()).digest()).decode()
        if hdrs.get("sec-websocket-accept") != want:
            sock.close()
            raise HandshakeError(0, head)
        return self

    def _read_head(self):
        for _ in range(1024):
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head, self.buf = self.buf[:i + 4], self.buf[i + 4:]
                return head
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buf += chunk
        raise ConnectionError("no HTTP response head")

    # -- sending -----------------------------------------------------

    @staticmethod
    def frame(opcode, payload, fin=True):
        """One masked client frame, as bytes on the wire."""
        if isinstance(payload, str):
            payload = payload.encode()
        mask = os.urandom(4)
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", b0, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", b0, 0x80 | 127, n)
        return head + mask + mask_payload(payload, mask)

    def send_frame(self, opcode, payload, fin=True):
        self.sock.sendall(self.frame(opcode, payload, fin))

    def send_text(self, text, fragments=1):
        self._send_message(OP_TEXT, text.encode(), fragments)

    def send_binary(self, data, fragments=1):
        self._send_message(OP_BINARY, bytes(data), fragments)

    def _send_message(self, opcode, data, fragments):
        if fragments <= 1 or len(data) < fragments:
            self.send_frame(opcode, data)
            return
        step = (len(data) + fragments - 1) // fragments
        pieces = [data[i:i + step] for i in range(0, len(data), step)]
        for i, piece in enumerate(pieces):
            self.send_frame(opcode if i == 0 else OP_CONT, piece,
                            fin=(i == len(pieces) - 1))

    def send_close(self, code=1000, reason=""):
        self.send_frame(OP_CLOSE, struct.pack("!H", code) + reason.encode())

    # -- receiving ---------------------------------------------------

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by peer")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _frame(self):
        b0, b1 = self._read(2)
        n = b1 & 0x7f
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        if b1 & 0x80:
            raise ValueError("server frames must not be masked")
        return bool(b0 & 0x80), b0 & 0x0f, self._read(n)

    def recv(self):
        """The next message: ("text", str), ("binary", bytes) or
        ("close", (code, reason)). Answers pings. Raises socket.timeout."""
        parts, opcode = [], None
        for _ in range(1 << 20):
            fin, op, data = self._frame()
            if op == OP_PING:
                self.send_frame(OP_PONG, data)
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 \
                    else 1005
                if not self.closed:
                    self.closed = True
                    try:
                        self.send_frame(OP_CLOSE, data[:2])
                    except OSError:
                        pass
                return "close", (code, data[2:].decode(errors="replace"))
            if op != OP_CONT:
                opcode, parts = op, []
            parts.append(data)
            if fin:
                payload = b"".join(parts)
                if opcode == OP_TEXT:
                    return "text", payload.decode()
                return "binary", payload
        raise ValueError("too many fragments")

    def close(self, code=1000):
        """Send a close frame (if not done), wait briefly for the answer."""
        try:
            if not self.closed:
                self.closed = True
                self.send_close(code)
                for _ in range(10000):
                    kind, _ = self.recv()
                    if kind == "close":
                        break
        except (OSError, ConnectionError, ValueError):
            pass
        finally:
            self.sock.close()
