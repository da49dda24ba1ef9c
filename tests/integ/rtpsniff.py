"""RTP on loopback, seen from the carrier's side, for the call tests.

Two tools (stdlib only, Linux):

  Sniffer(port)   records every UDP datagram sent to (or with source=True,
                  from) a port on loopback,
                  without owning that port. SIPp binds its media port
                  (-mp) and never reads it; the sniffer sees what callbridge
                  sends there through an AF_PACKET socket on "lo" with a
                  kernel (classic BPF) filter on the UDP destination port,
                  and takes the kernel's receive time of each packet
                  (SO_TIMESTAMPNS). Needs CAP_NET_RAW (root), like SIPp's
                  play_pcap_audio.

  RtpHub          one thread that owns any number of UDP endpoints: each
                  records what it receives and can play a G.711 signal as
                  RTP at 20 ms intervals on an absolute monotonic schedule
                  (for calls whose media the test owns: a re-INVITE moving
                  the media address, 20 concurrent calls with a distinct
                  signal each).

Times are time.monotonic() seconds, the clock of cb-test-agent's t_us
(CLOCK_MONOTONIC): kernel timestamps (CLOCK_REALTIME) are converted with
the offset between the two clocks measured when the sniffer starts.

Helpers: parse_rtp(bytes), rtp_report(packets) (sequence, timestamp, SSRC,
spacing checks), payload_audio(packets).
"""

import ctypes
import select
import socket
import statistics
import struct
import threading
import time

SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
ETH_P_IP = 0x0800
PACKET_OUTGOING = 4


class Pkt:
    """One UDP datagram: t (monotonic [s]), source, destination, payload."""

    __slots__ = ("t", "src", "sport", "dst", "dport", "payload")

    def __init__(self, t, src, sport, dst, dport, payload):
        self.t, self.src, self.sport = t, src, sport
        self.dst, self.dport, self.payload = dst, dport, payload

    @property
    def rtp(self):
        return parse_rtp(self.payload)

    def __repr__(self):
        return "<Pkt %.3f %s:%d->%s:%d %dB>" % (self.t, self.src, self.sport,
                                               self.dst, self.dport,
                                               len(self.payload))


def parse_rtp(data):
    """RTP fixed header and payload as a dict, or None if not RTP v2."""
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    b0, b1, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
    off = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:                       # header extension
        if len(data) < off + 4:
            return None
        off += 4 + 4 * struct.unpack("!H", data[off + 2:off + 4])[0]
    end = len(data)
    if b0 & 0x20 and end > off:         # padding
        end -= data[-1]
    if end < off:
        return None
    return {"pt": b1 & 0x7F, "marker": bool(b1 & 0x80), "seq": seq,
            "ts": ts, "ssrc": ssrc, "payload": data[off:end]}


def is_rtcp(data):
    """RFC 5761: RTCP packet types 192..223 in the second byte."""
    return len(data) >= 2 and data[0] >> 6 == 2 and 192 <= data[1] <= 223


def _bpf_udp_port(port, source=False):
    """sock_filter program: accept unfragmented IPv4 UDP to (or, with
    source, from) port. On a SOCK_DGRAM packet socket, offset 0 is the IP
    header."""
    return [
        (0x30, 0, 0, 9),            # ldb [9]          protocol
        (0x15, 0, 6, 17),           # jeq #17          UDP, else drop
        (0x28, 0, 0, 6),            # ldh [6]          fragment offset
        (0x45, 4, 0, 0x1FFF),       # jset #0x1fff     a fragment: drop
        (0xB1, 0, 0, 0),            # ldxb 4*([0]&0xf) header length
        (0x48, 0, 0, 0 if source else 2),   # ldh [x+0|2]  the port
        (0x15, 0, 1, port),         # jeq #port
        (0x06, 0, 0, 0x40000),      # ret #262144      accept
        (0x06, 0, 0, 0),            # ret #0           drop
    ]


def _attach_filter(sock, prog):
    raw = b"".join(struct.pack("HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = struct.pack("@HP", len(prog), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def clock_offset():
    """time.time() - time.monotonic(), measured tightly [s]."""
    best = None
    for _ in range(5):
        a = time.monotonic()
        r = time.time()
        b = time.monotonic()
        if best is None or b - a < best[0]:
            best = (b - a, r - (a + b) / 2)
    return best[1]


def kernel_time(anc, offset):
    """A datagram's receive time on time.monotonic()'s clock, from its
    SO_TIMESTAMPNS ancillary data (offset: clock_offset()); now if the
    kernel gave none."""
    for level, typ, val in anc:
        if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", val[:16])
            return sec + nsec / 1e9 - offset
    return time.monotonic()


def rtp_only(pkts, since=None, until=None):
    """The RTP ones of pkts (RTCP left out), optionally in a time
    window."""
    return [p for p in pkts
            if not is_rtcp(p.payload) and parse_rtp(p.payload) and
            (since is None or p.t >= since) and
            (until is None or p.t < until)]


class Recorder:
    """A receiving thread `_t` on socket `sock`, stopped by `_stop`:
    close() and the context manager."""

    def close(self):
        self._stop = True
        self._t.join(timeout=5)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Sniffer(Recorder):
    """Record UDP datagrams sent to `port` on loopback (see module doc).

        with Sniffer(port) as sn:
            ...
        sn.packets        # [Pkt], in arrival order
        sn.rtp()          # the RTP ones (RTCP left out), as Pkt
    """

    def __init__(self, port, ifname="lo", source=False):
        self.port = port
        self.source = source
        self.packets = []
        self.offset = clock_offset()
        self._lock = threading.Lock()
        self._stop = False
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)
        try:
            _attach_filter(self.sock, _bpf_udp_port(port, source))
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self.sock.bind((ifname, ETH_P_IP))
        except OSError:
            self.sock.close()
            raise
        self._t = threading.Thread(target=self._run, daemon=True,
                                   name="sniff-%d" % port)
        self._t.start()

    def _run(self):
        while not self._stop:
            r, _, _ = select.select([self.sock], [], [], 0.05)
            if not r:
                continue
            for _ in range(256):
                try:
                    data, anc, _, addr = self.sock.recvmsg(
                        65535, 64, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                except OSError:
                    return
                if addr[2] == PACKET_OUTGOING:
                    continue            # lo shows each packet twice
                p = self._parse(data, kernel_time(anc, self.offset))
                if p:
                    with self._lock:
                        self.packets.append(p)

    def _parse(self, data, t):
        if len(data) < 28 or data[0] >> 4 != 4:
            return None
        ihl = (data[0] & 0x0F) * 4
        src = socket.inet_ntoa(data[12:16])
        dst = socket.inet_ntoa(data[16:20])
        sport, dport, ulen = struct.unpack("!HHH", data[ihl:ihl + 6])
        if (sport if self.source else dport) != self.port:
            return None
        return Pkt(t, src, sport, dst, dport, bytes(data[ihl + 8:ihl + ulen]))

    def snapshot(self):
        with self._lock:
            return list(self.packets)

    def rtp(self, since=None, until=None):
        """RTP packets (RTCP left out), optionally in a time window."""
        return rtp_only(self.snapshot(), since, until)


class Endpoint:
    """One UDP socket of an RtpHub: records what arrives, plays RTP."""

    def __init__(self, hub, host):
        self.hub = hub
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.setblocking(False)
        self.host, self.port = self.sock.getsockname()
        self.packets = []                # received Pkt
        self.sent = []                   # (t, payload) sent
        self._queue = []                 # (due, dest, bytes)

    def play(self, dest, audio, pt=0, ssrc=0x5EED0001, seq=100, ts=0,
             start=None, ptime=20, marker=True):
        """Queue audio (8 kHz G.711 bytes) as RTP packets to dest, one per
        ptime from start (monotonic, default: now). Returns (next seq,
        next ts, time after the last packet) to continue the stream."""
        step = 8 * ptime
        t0 = time.monotonic() if start is None else start
        pkts = []
        for k in range(0, len(audio), step):
            chunk = audio[k:k + step]
            if len(chunk) < step:
                break
            hdr = struct.pack("!BBHII", 0x80,
                              (0x80 if marker and k == 0 else 0) | pt,
                              (seq + k // step) & 0xFFFF,
                              (ts + k) & 0xFFFFFFFF, ssrc)
            pkts.append((t0 + (k // step) * ptime / 1000.0, dest,
                         hdr + chunk))
        n = len(pkts)
        with self.hub.lock:
            self._queue.extend(pkts)
            self._queue.sort(key=lambda x: x[0])
        self.hub.wake()
        return seq + n, ts + n * step, t0 + n * ptime / 1000.0

    def send_raw(self, dest, data):
        self.sock.sendto(data, dest)

    def queued(self):
        with self.hub.lock:
            return len(self._queue)

    def rtp(self, since=None, until=None):
        with self.hub.lock:
            pk = list(self.packets)
        return rtp_only(pk, since, until)


class RtpHub:
    """Owner thread of many Endpoints (see module doc)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.eps = []
        self._stop = False
        self._r, self._w = socket.socketpair()
        self._r.setblocking(False)
        self._t = threading.Thread(target=self._run, daemon=True,
                                   name="rtphub")
        self._t.start()

    def endpoint(self, host="127.0.0.1"):
        ep = Endpoint(self, host)
        with self.lock:
            self.eps.append(ep)
        self.wake()
        return ep

    def wake(self):
        try:
            self._w.send(b"x")
        except OSError:
            pass

    def _run(self):
        while not self._stop:
            with self.lock:
                eps = list(self.eps)
                due = min((e._queue[0][0] for e in eps if e._queue),
                          default=None)
            now = time.monotonic()
            tmo = 0.05 if due is None else max(0.0, min(0.05, due - now))
            r, _, _ = select.select([self._r] + [e.sock for e in eps], [],
                                    [], tmo)
            now = time.monotonic()
            for s in r:
                if s is self._r:
                    try:
                        s.recv(4096)
                    except OSError:
                        pass
                    continue
                ep = next(e for e in eps if e.sock is s)
                for _ in range(64):
                    try:
                        data, src = s.recvfrom(65535)
                    except (BlockingIOError, OSError):
                        break
                    with self.lock:
                        ep.packets.append(Pkt(now, src[0], src[1], ep.host,
                                              ep.port, data))
            now = time.monotonic()
            for e in eps:
                while True:
                    with self.lock:
                        if not e._queue or e._queue[0][0] > now:
                            break
                        _, dest, data = e._queue.pop(0)
                    try:
                        e.sock.sendto(data, dest)
                        e.sent.append((now, data))
                    except OSError:
                        pass

    def close(self):
        self._stop = True
        self.wake()
        self._t.join(timeout=5)
        for e in self.eps:
            e.sock.close()
        self._r.close()
        self._w.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class RtpReport:
    """What a received RTP stream looks like (see rtp_report)."""

    def __init__(self, pkts):
        self.pkts = pkts
        rtps = [parse_rtp(p.payload) for p in pkts]
        self.rtp = rtps
        self.count = len(rtps)
        self.ssrcs = sorted({r["ssrc"] for r in rtps})
        self.pts = sorted({r["pt"] for r in rtps})
        self.seq_steps = [(b["seq"] - a["seq"]) & 0xFFFF
                          for a, b in zip(rtps, rtps[1:])]
        self.ts_steps = [(b["ts"] - a["ts"]) & 0xFFFFFFFF
                         for a, b in zip(rtps, rtps[1:])]
        self.spacing = [b.t - a.t for a, b in zip(pkts, pkts[1:])]
        self.duration = pkts[-1].t - pkts[0].t if len(pkts) > 1 else 0.0
        self.sizes = sorted({len(r["payload"]) for r in rtps})

    @property
    def median_spacing(self):
        return statistics.median(self.spacing) if self.spacing else None

    def skips(self, ptime=20):
        """Indexes of the timestamp steps a stalled sender explains: n > 3
        packet times (callbridge's tick skips what it missed when its
        worker woke more than 3 late, mcall_tx.c: tx_run) where the packet
        also came at least n - 1 packet times after the one before (its
        kernel receive time): the sender really was held up that long."""
        step = 8 * ptime
        return [i for i, s in enumerate(self.ts_steps)
                if s % step == 0 and s // step > 3 and
                self.spacing[i] >= (s // step - 1) * ptime / 1000.0]

    def problems(self, pt=None, ptime=20, skips=False):
        """Everything that is not one steady stream of ptime packets.
        skips: allow the timestamp jumps of a sender that was held up by a
        busy host (skips())."""
        p = []
        if not self.count:
            return ["no RTP"]
        if len(self.ssrcs) != 1:
            p.append("SSRCs %s" % ["%08x" % s for s in self.ssrcs])
        if pt is not None and self.pts != [pt]:
            p.append("payload types %s, want %d" % (self.pts, pt))
        bad = [i for i, s in enumerate(self.seq_steps) if s != 1]
        if bad:
            p.append("sequence jumps at %s (steps %s)"
                     % (bad[:5], [self.seq_steps[i] for i in bad[:5]]))
        ok = set(self.skips(ptime)) if skips else set()
        bad = [i for i, s in enumerate(self.ts_steps)
               if s != 8 * ptime and i not in ok]
        if bad:
            p.append("timestamp steps %s at %s"
                     % ([self.ts_steps[i] for i in bad[:5]], bad[:5]))
        if self.sizes != [8 * ptime]:
            p.append("payload sizes %s" % self.sizes)
        return p


def rtp_report(pkts):
    return RtpReport(pkts)


def payload_audio(pkts):
    """The payloads of RTP packets, concatenated, in the order given."""
    return b"".join(parse_rtp(p.payload)["payload"] for p in pkts)
