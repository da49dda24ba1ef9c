"""The carrier's side of SRTP (SDES) for the end-to-end tests (stdlib only).

libsrtp2 through ctypes, so the carrier's encryption is not the gateway's
code: Session protects or unprotects one direction with one master key
(libsrtp2 keeps one wildcard-SSRC template per srtp_t, so each direction
has its own). Peer owns the carrier's media sockets (an even RTP port and
the RTCP port above it, or RTP only with rtcp-mux), and one thread that
sends a plan of packets on a monotonic schedule and records, decrypts and
answers what the gateway sends:

    peer = Peer("AES_CM_128_HMAC_SHA1_80", mux=False)
    attrs = "\\r\\n" + peer.crypto_attr(tag=5)     # the offer's a=crypto
    ... SIPp offers RTP/SAVP at peer.port; the 200 answers ...
    peer.set_rx_key(answer_key)                    # the gateway's key
    peer.play(("127.0.0.1", gw_port), peer.rtp_plan(sig, how=...))
    peer.wait_sent(10); peer.close()
    peer.rtp_in        # [(t, status, plain bytes or None)] RTP received
    peer.rtcp_in       # [(t, port, status, plain bytes or None)] RTCP

A plan is a list of (offset [s], how, kind, bytes, arg) items, sent at
their offsets from play(). kind is "rtp" or "rtcp"; an "rtcp" item with
bytes None is a receiver report about the gateway's SSRC made when it is
sent (arg: receiver_report() fields). how is "good" (protected with the
offered key), "wrongkey" (protected with another random key of the same
suite), "plain" (no protection, zero bytes where the tag would be),
"replay" (the bytes of the arg-th packet of that kind sent before it,
again) or "tamper" (protected by a twin session with the same key, so that
the real packet of that number can follow, then its last plain byte
flipped).
With rr set, every SR the gateway sends is answered by a receiver report
(SRTCP, our key) with known fraction lost and jitter, sent
`rr["dlsr_cut"]` seconds late and with a DLSR that leaves that time out:
the gateway's round-trip time is then that much longer than the real one
(so that a present RTT cannot be 0).
"""

import base64
import ctypes
import ctypes.util
import os
import select
import socket
import struct
import threading
import time

SUITES = {
    # name: RTP tag length [bytes] (SRTCP's is 10 for both, RFC 4568 6.2.2)
    "AES_CM_128_HMAC_SHA1_80": 10,
    "AES_CM_128_HMAC_SHA1_32": 4,
}
SRTCP_ADDED = 4 + 10         # E flag + index, tag

# srtp_err_status_t values (libsrtp2 2.x)
OK, AUTH_FAIL, REPLAY_FAIL, REPLAY_OLD = 0, 7, 9, 10
SSRC_ANY_INBOUND, SSRC_ANY_OUTBOUND = 2, 3


class _Ssrc(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("value", ctypes.c_uint)]


class _Crypto(ctypes.Structure):
    _fields_ = [("cipher_type", ctypes.c_uint32),
                ("cipher_key_len", ctypes.c_int),
                ("auth_type", ctypes.c_uint32),
                ("auth_key_len", ctypes.c_int),
                ("auth_tag_len", ctypes.c_int),
                ("sec_serv", ctypes.c_int)]


class _Policy(ctypes.Structure):
    """srtp_policy_t of libsrtp2 2.x (srtp2/srtp.h)."""
    _fields_ = [("ssrc", _Ssrc), ("rtp", _Crypto), ("rtcp", _Crypto),
                ("key", ctypes.c_char_p), ("keys", ctypes.c_void_p),
                ("num_master_keys", ctypes.c_ulong),
                ("deprecated_ekt", ctypes.c_void_p),
                ("window_size", ctypes.c_ulong),
                ("allow_repeat_tx", ctypes.c_int),
                ("enc_xtn_hdr", ctypes.c_void_p),
                ("enc_xtn_hdr_count", ctypes.c_int),
                ("next", ctypes.c_void_p)]


_lib = None
_lib_lock = threading.Lock()


def _libsrtp():
    global _lib
    with _lib_lock:
        if _lib is None:
            name = ctypes.util.find_library("srtp2") or "libsrtp2.so.1"
            lib = ctypes.CDLL(name)
            if lib.srtp_init() != OK:
                raise OSError("srtp_init failed")
            _lib = lib
        return _lib


def available():
    """Why libsrtp2 cannot be used here, or None."""
    try:
        _libsrtp()
    except OSError as e:
        return "libsrtp2 not loadable: %s" % e
    return None


def random_key():
    """30 random bytes: master key (16) and salt (14)."""
    return os.urandom(30)


def b64(key):
    return base64.b64encode(key).decode()


def crypto_attr(tag, suite, key, extra=""):
    """An SDP a=crypto line (no CRLF)."""
    return "a=crypto:%d %s inline:%s%s" % (tag, suite, b64(key), extra)


def parse_answer(body):
    """(port, proto, fmts, [(tag, suite, key bytes or None, line)], attrs)
    of the first m=audio of an SDP body; attrs: every a= line of it."""
    port = proto = None
    fmts, cryptos, attrs = [], [], []
    in_audio = False
    for line in body.replace("\r\n", "\n").split("\n"):
        line = line.strip()
        if line.startswith("m="):
            if port is not None:
                break
            parts = line[2:].split()
            in_audio = parts[0] == "audio"
            if in_audio:
                port, proto = int(parts[1]), parts[2]
                fmts = parts[3:]
            continue
        if not in_audio or not line.startswith("a="):
            continue
        attrs.append(line[2:])
        if line.startswith("a=crypto:"):
            parts = line[len("a=crypto:"):].split()
            key = None
            if len(parts) >= 3 and parts[2].startswith("inline:"):
                try:
                    key = base64.b64decode(parts[2][7:].split("|")[0],
                                           validate=True)
                except ValueError:
                    key = None
            tag = int(parts[0]) if parts and parts[0].isdigit() else None
            cryptos.append((tag, parts[1] if len(parts) > 1 else None, key,
                            line))
    return port, proto, fmts, cryptos, attrs


class Session:
    """One libsrtp2 session: protects (outbound) or unprotects (inbound)
    any SSRC with one master key and suite."""

    def __init__(self, suite, key, inbound):
        lib = _libsrtp()
        if suite not in SUITES or len(key) != 30:
            raise ValueError("suite %r, key of %d bytes" % (suite, len(key)))
        p = _Policy()
        if suite == "AES_CM_128_HMAC_SHA1_32":
            lib.srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(
                ctypes.byref(p.rtp))
        else:
            # (_80 is a macro for the default)
            lib.srtp_crypto_policy_set_rtp_default(ctypes.byref(p.rtp))
        lib.srtp_crypto_policy_set_rtcp_default(ctypes.byref(p.rtcp))
        p.ssrc.type = SSRC_ANY_INBOUND if inbound else SSRC_ANY_OUTBOUND
        self._key = ctypes.create_string_buffer(bytes(key), 30)
        p.key = ctypes.cast(self._key, ctypes.c_char_p)
        p.window_size = 1024
        self.ctx = ctypes.c_void_p()
        st = lib.srtp_create(ctypes.byref(self.ctx), ctypes.byref(p))
        if st != OK:
            raise OSError("srtp_create: status %d" % st)
        self.lib = lib
        self.suite = suite

    def protect(self, data, rtcp=False):
        buf = ctypes.create_string_buffer(bytes(data), len(data) + 64)
        n = ctypes.c_int(len(data))
        f = self.lib.srtp_protect_rtcp if rtcp else self.lib.srtp_protect
        st = f(self.ctx, buf, ctypes.byref(n))
        if st != OK:
            raise OSError("srtp_protect%s: status %d"
                          % ("_rtcp" if rtcp else "", st))
        return buf.raw[:n.value]

    def unprotect(self, data, rtcp=False):
        """(status, plain bytes or None)"""
        buf = ctypes.create_string_buffer(bytes(data), len(data) + 16)
        n = ctypes.c_int(len(data))
        f = self.lib.srtp_unprotect_rtcp if rtcp else \
            self.lib.srtp_unprotect
        st = f(self.ctx, buf, ctypes.byref(n))
        return st, (buf.raw[:n.value] if st == OK else None)

    def close(self):
        if self.ctx:
            self.lib.srtp_dealloc(self.ctx)
            self.ctx = None


def is_rtcp(data):
    return len(data) >= 2 and data[0] >> 6 == 2 and 192 <= data[1] <= 223


def rtcp_types(plain):
    """Packet types of an RTCP compound, in order."""
    out, off = [], 0
    while off + 4 <= len(plain):
        out.append(plain[off + 1])
        off += 4 * (struct.unpack("!H", plain[off + 2:off + 4])[0] + 1)
    return out


def rtp_header(seq, ts, ssrc, pt=0, marker=False):
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt,
                       seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)


def receiver_report(ssrc, about, fraction, cum_lost=0, ext_seq=0, jitter=0,
                    lsr=0, dlsr=0, cname=b"carrier@test"):
    """RR with one report block, and an SDES CNAME: a compound."""
    rr = struct.pack("!BBHI", 0x81, 201, 7, ssrc)
    rr += struct.pack("!IIIIII", about, (fraction << 24) |
                      (cum_lost & 0xFFFFFF), ext_seq, jitter, lsr, dlsr)
    item = bytes([1, len(cname)]) + cname + b"\0"
    item += b"\0" * (-(4 + len(item)) % 4)
    sdes = struct.pack("!BBHI", 0x81, 202, (4 + len(item)) // 4, ssrc)
    return rr + sdes + item


class Peer:
    """See the module doc."""

    def __init__(self, suite, mux=False, key=None, host="127.0.0.1",
                 ssrc=0x5EC0_0001, rr=None):
        self.suite = suite
        self.mux = mux
        self.key = key or random_key()
        self.wrong_key = random_key()
        self.ssrc = ssrc
        self.rr = rr
        self.host = host
        self.rtp_sock, self.rtcp_sock = self._bind(host)
        self.port = self.rtp_sock.getsockname()[1]
        self.tx = Session(suite, self.key, inbound=False)
        self.tx_wrong = Session(suite, self.wrong_key, inbound=False)
        self.tx_twin = Session(suite, self.key, inbound=False)
        self.rx = None               # the gateway's key, once known
        self.rx_rtcp = None
        self._rx_key = None
        self._ndec = 0               # raw_in entries decrypted
        self.dest = None
        self.lock = threading.Lock()
        self.raw_in = []             # (t, "rtp"|"rtcp" port, bytes, source)
        self.rtp_in = []             # (t, status, plain or None)
        self.rtcp_in = []            # (t, port kind, status, plain or None)
        self.sent = []               # (t, how, kind, bytes on the wire)
        self.rr_sent = []            # (t, plain RR compound)
        self.gw_ssrc = None
        self.dest_rtcp = None
        self._plan = []              # (due, how, kind, bytes, arg)
        self._pending = 0
        self._stop = False
        self._done = 0
        self._t = threading.Thread(target=self._run, daemon=True,
                                   name="srtp-peer-%d" % self.port)
        self._t.start()

    @staticmethod
    def _bind(host, tries=200):
        for _ in range(tries):
            a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                a.bind((host, 0))
                p = a.getsockname()[1]
                if p % 2 or p >= 65534:
                    raise OSError("odd port")
                b.bind((host, p + 1))
                a.setblocking(False)
                b.setblocking(False)
                return a, b
            except OSError:
                a.close()
                b.close()
        raise RuntimeError("no free even/odd port pair")

    # -- the offer --------------------------------------------------------

    def crypto_attr(self, tag=1, suite=None, extra=""):
        return crypto_attr(tag, suite or self.suite, self.key, extra)

    # -- keys and plans ---------------------------------------------------

    def set_rx_key(self, key, suite=None):
        """The gateway's key (from its answer): the peer's thread decrypts
        what came so far and everything from now on."""
        with self.lock:
            self._rx_key = (bytes(key), suite or self.suite)

    def rtp_plan(self, audio, how=None, seq=1000, ts=0, pt=0, ptime=20,
                 start=0.0):
        """One packet per ptime of G.711 bytes; how: a function of the
        packet index giving its kind (default: all "good")."""
        step = 8 * ptime
        plan = []
        for k in range(len(audio) // step):
            h = how(k) if how else "good"
            hdr = rtp_header(seq + k, ts + k * step, self.ssrc, pt,
                             marker=(k == 0))
            plan.append((start + k * ptime / 1000.0, h, "rtp",
                         hdr + audio[k * step:(k + 1) * step], None))
        return plan

    def play(self, dest, plan, dest_rtcp=None):
        """Send a plan to dest (RTP) from now; RTCP items go to dest_rtcp
        (default: the port above dest, or dest with mux)."""
        if dest_rtcp is None:
            dest_rtcp = dest if self.mux else (dest[0], dest[1] + 1)
        t0 = time.monotonic()
        with self.lock:
            self.dest = dest
            self.dest_rtcp = dest_rtcp
            for off, how, kind, data, arg in plan:
                self._plan.append((t0 + off, how, kind, data, arg))
            self._plan.sort(key=lambda x: x[0])
            self._pending += len(plan)

    def wait_sent(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self._plan:
                    return True
            time.sleep(0.01)
        raise AssertionError("peer: plan not sent within %.0f s" % timeout)

    # -- the thread -------------------------------------------------------

    def _wire(self, how, kind, data, arg):
        if kind == "rr":                 # the answer to an SR
            return self._rr_wire(arg)
        rtcp = kind == "rtcp"
        if rtcp and data is None:       # a receiver report, made now
            data = receiver_report(self.ssrc, self.gw_ssrc or 0, **arg)
        if how == "good":
            return self.tx.protect(data, rtcp)
        if how == "wrongkey":
            return self.tx_wrong.protect(data, rtcp)
        if how == "plain":
            return bytes(data) + b"\0" * (SRTCP_ADDED if rtcp else 10)
        if how == "tamper":
            # the twin has the same key but its own sequence state, so
            # the real packet of this number can still be protected
            w = bytearray(self.tx_twin.protect(data, rtcp))
            w[len(data) - 1] ^= 0x01
            return bytes(w)
        if how == "replay":
            same = [s for s in self.sent if s[2] == kind]
            return same[-arg][3]
        raise ValueError(how)

    def _send_due(self, now):
        while True:
            with self.lock:
                if not self._plan or self._plan[0][0] > now:
                    return
                _, how, kind, data, arg = self._plan.pop(0)
                rtcp = kind in ("rtcp", "rr")
                dest = self.dest_rtcp if rtcp else self.dest
            if dest is None:
                continue
            wire = self._wire(how, kind, data, arg)
            sock = self.rtcp_sock if rtcp and not self.mux \
                else self.rtp_sock
            try:
                sock.sendto(wire, dest)
            except OSError:
                continue
            with self.lock:
                self.sent.append((time.monotonic(), how,
                                  "rtcp" if rtcp else "rtp", wire))

    def _catch_up(self):
        """(thread) Decrypt what arrived, in arrival order, once the
        gateway's key is known."""
        with self.lock:
            if self.rx is None and self._rx_key:
                key, suite = self._rx_key
                self.rx = Session(suite, key, inbound=True)
                self.rx_rtcp = Session(suite, key, inbound=True)
            if self.rx is None:
                return
            todo = self.raw_in[self._ndec:]
            self._ndec = len(self.raw_in)
        for t, kind, data, _src in todo:
            if is_rtcp(data):
                st, plain = self.rx_rtcp.unprotect(data, rtcp=True)
                with self.lock:
                    self.rtcp_in.append((t, kind, st, plain))
                if plain and self.rr is not None and \
                        rtcp_types(plain)[:1] == [200]:
                    self._answer_sr(t, plain)
            else:
                st, plain = self.rx.unprotect(data)
                with self.lock:
                    self.rtp_in.append((t, st, plain))

    def _answer_sr(self, t_rx, sr):
        """(thread) Queue the receiver report that answers an SR: sent
        dlsr_cut seconds later, its DLSR leaves that time out."""
        gw = struct.unpack("!I", sr[4:8])[0]
        lsr = struct.unpack("!I", sr[10:14])[0]
        cut = self.rr.get("dlsr_cut", 0.0)
        with self.lock:
            self._plan.append((t_rx + cut, "good", "rr", None,
                               (gw, lsr, t_rx + cut)))
            self._plan.sort(key=lambda x: x[0])

    def _rr_wire(self, arg):
        gw, lsr, t_from = arg
        dlsr = max(0, int((time.monotonic() - t_from) * 65536))
        rr = receiver_report(self.ssrc, gw, self.rr["fraction"],
                             self.rr.get("cum_lost", 0),
                             self.rr.get("ext_seq", 0), self.rr["jitter"],
                             lsr, dlsr)
        with self.lock:
            self.rr_sent.append((time.monotonic(), rr))
        return self.tx.protect(rr, rtcp=True)

    def _run(self):
        socks = [self.rtp_sock, self.rtcp_sock]
        while not self._stop:
            now = time.monotonic()
            with self.lock:
                due = self._plan[0][0] if self._plan else None
            tmo = 0.05 if due is None else max(0.0, min(0.05, due - now))
            r, _, _ = select.select(socks, [], [], tmo)
            now = time.monotonic()
            for s in r:
                kind = "rtp" if s is self.rtp_sock else "rtcp"
                for _ in range(64):
                    try:
                        data, src = s.recvfrom(65535)
                    except (BlockingIOError, OSError):
                        break
                    with self.lock:
                        self.raw_in.append((now, kind, data, src))
                        if not is_rtcp(data) and len(data) >= 12 and \
                                self.gw_ssrc is None:
                            self.gw_ssrc = struct.unpack("!I",
                                                         data[8:12])[0]
            self._catch_up()
            self._send_due(time.monotonic())
        self._catch_up()

    # -- results ----------------------------------------------------------

    def rtp_plain(self):
        """Decrypted RTP packets (bytes), in arrival order."""
        with self.lock:
            return [p for _, st, p in self.rtp_in if st == OK]

    def rtp_failed(self):
        with self.lock:
            return [(t, st) for t, st, _ in self.rtp_in if st != OK]

    def sent_count(self, how=None, kind=None):
        with self.lock:
            return sum(1 for s in self.sent
                       if (how is None or s[1] == how) and
                       (kind is None or s[2] == kind))

    def close(self):
        self._stop = True
        self._t.join(timeout=5)
        self.rtp_sock.close()
        self.rtcp_sock.close()
        for s in (self.tx, self.tx_wrong, self.tx_twin, self.rx,
                  self.rx_rtcp):
            if s:
                s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
