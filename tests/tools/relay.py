#!/usr/bin/env python3
"""relay: a SIP/RTP relay that impairs the carrier's RTP by a seeded schedule.

    carrier (SIPp) --SIP--> relay --SIP--> callbridge        (and back)
    carrier --RTP--> relay [drop, delay, reorder, duplicate] --RTP--> callbridge
    carrier <--RTP, RTCP-- relay <--RTP, RTCP-- callbridge    (unimpaired)

Usage:
  relay.py --gateway IP:PORT [--listen IP[:PORT]] [--log FILE] [--seed N]
           [--loss %] [--dup %] [--reorder %] [--reorder-ms MS]
           [--jitter MS] [--late %] [--late-ms MS] [--clean-first N]
           [--max-seconds S] [--max-packets N]

The first line on stdout is "SIP <port>" (the relay's SIP port on --listen,
UDP), flushed at once. SIGTERM or SIGINT ends it (exit 0); so do
--max-seconds (exit 3) and --max-packets RTP packets (exit 3).

Design note.
*SIP.* A stateless proxy on one UDP socket. A request from the carrier
gets the relay's own Via on top (branch derived from the carrier's top Via,
so a CANCEL matches its INVITE; with rport, which libre honours) and goes
to --gateway; a response from the gateway loses that Via and goes where
the next Via says (received/rport first). A request from the gateway (it
only comes here if the gateway sends in-dialog requests to the relay) goes
to the carrier's last address for the Call-ID. The carrier sends ACK and
BYE to the relay too (SIPp sends everything to its remote address).

*SDP.* The relay anchors the media: every SDP body is rewritten, in both
directions. The carrier's offer gets the relay's gateway-side RTP port
pair as its c=/m= (and a=rtcp), the gateway's answer the relay's
carrier-side pair; Content-Length is fixed. So the relay sends the
carrier's RTP to callbridge *from the address in the SDP callbridge
received*: the gateway's anti-bleed latch accepts the first packet, and the
statistics are exactly what the relay did, with no takeover transient. (The
alternative, sending from an address that differs from the SDP, costs the
first 3 packets to the latch and makes the gateway start on the fourth;
and a relay cannot send from SIPp's own port, which SIPp holds.) It is
also how an SBC or media proxy in front of a gateway works. RTP and RTCP
from callbridge, and RTCP from the carrier, are forwarded unimpaired.

*Schedule.* Only RTP (not RTCP) from the carrier to the gateway is
impaired. Packet i of a leg (in arrival order, from 0) draws six numbers
from random.Random(seed + leg) in a fixed order, whatever its fate, so
the fate of packet i depends only on the seed, the leg and i:

    u_loss, u_late, u_reorder, u_dup, j1, j2   (each uniform in [0, 1))

    if i < clean_first:     delivered at once, nothing else
    elif u_loss < loss:     dropped
    else:                   delay = j1 * jitter
                            + late_ms     if u_late < late
                            + reorder_ms  elif u_reorder < reorder
                            a second copy at delay + j2 * jitter
                            (at least 1 ms after)  if u_dup < dup

Delays are from the packet's arrival at the relay. Packets go out in
order of due time (ties in arrival order), each as soon as it is due. With
jitter, packets also reorder among themselves (40 ms of jitter at 20 ms
spacing reorders about 12 % on its own); --reorder adds more, by holding
packets back. Whatever happens, the log says what was done.

*Log* (--log, JSON lines, one write each, times time.monotonic() [s], the
clock of cb-test-agent's t_us):
    {"ev": "start", "conf": {...}, "sip_port": P}
    {"ev": "sip", "t", "dir": "c2g"|"g2c", "line": first line,
     "call_id", "sdp": rewritten?}
    {"ev": "leg", "leg", "call_id", "carrier": "ip:port", "gateway":
     "ip:port"|null, "relay_c": "ip:port", "relay_g": "ip:port"}
    {"ev": "rtp", "leg", "i", "t": arrival, "seq", "ts", "ssrc", "pt",
     "m", "len", "fate": "drop"|"pass", "delays": [ms per copy],
     "late", "reorder", "dup": bools}
    {"ev": "tx", "leg", "i", "copy": 0|1, "due", "t": sent, "n": order of
     delivery on the leg, from 0}
    {"ev": "early", "leg", "t", "seq"}: RTP before the gateway's address
     was known (dropped, not impaired)
    {"ev": "back", "leg", "t", "seq", "len"}: RTP from the gateway
    {"ev": "end", "why", "stats": {...}}

As a module: Relay (run it in-process), RelayProcess (run relay.py as a
subprocess, like agentlog.AgentProcess), read_log(path) and
expected_jb(records, leg) (the jitter buffer counters a gateway must
report for what the relay delivered; see docs/jitter-buffer.md).
"""

import argparse
import hashlib
import heapq
import ipaddress
import json
import os
import random
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

MAX_DGRAM = 65535
MAX_LEGS = 256
MAX_QUEUE = 10000                 # packets waiting for their due time


def _hostport(s, default_port=None):
    """"1.2.3.4:5", "[::1]:5", "::1", "1.2.3.4" -> (host, port)."""
    s = s.strip()
    if s.startswith("["):
        host, _, rest = s[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif s.count(":") == 1:
        host, port = s.split(":")
    else:
        host, port = s, None
    ipaddress.ip_address(host)            # refuses names: loopback only
    if port is None or port == "":
        if default_port is None:
            raise ValueError("%r: no port" % s)
        return host, default_port
    p = int(port)
    if not 0 <= p <= 65535:
        raise ValueError("%r: bad port" % s)
    return host, p


def _fmt(addr):
    host, port = addr[0], addr[1]
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host,
                                                                   port)


def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _is_rtcp(data):
    """RTCP (RFC 5761 4: packet types 192..223 in the second byte)."""
    return len(data) >= 8 and data[0] >> 6 == 2 and 192 <= data[1] <= 223


# ---- SIP message editing -------------------------------------------------

_COMPACT = {"v": "via", "i": "call-id", "l": "content-length",
            "c": "content-type", "m": "contact", "f": "from", "t": "to"}


class SipMsg:
    """A SIP message as first line, header lines and body (bytes)."""

    def __init__(self, data):
        head, sep, body = data.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("no end of headers")
        lines = head.decode("utf-8", "replace").split("\r\n")
        self.first = lines[0]
        self.headers = []                 # [name, value] as received
        for ln in lines[1:]:
            if ln[:1] in (" ", "\t") and self.headers:   # folded line
                self.headers[-1][1] += " " + ln.strip()
                continue
            name, colon, value = ln.partition(":")
            if not colon:
                raise ValueError("bad header line %r" % ln[:80])
            self.headers.append([name.strip(), value.strip()])
        self.body = body
        self.is_response = self.first.startswith("SIP/2.0 ")
        if not self.is_response and len(self.first.split(" ")) != 3:
            raise ValueError("bad request line %r" % self.first[:80])

    @staticmethod
    def canon(name):
        n = name.lower()
        return _COMPACT.get(n, n)

    def get_all(self, name):
        return [v for n, v in self.headers if self.canon(n) == name]

    def get(self, name, default=None):
        v = self.get_all(name)
        return v[0] if v else default

    def vias(self):
        """Via values, one per entry (a header may hold several)."""
        out = []
        for v in self.get_all("via"):
            out += [x.strip() for x in _split_commas(v)]
        return out

    def set_vias(self, vias):
        """Replace all Via headers by one header per entry, at the place
        of the first Via (or at the top)."""
        idx = next((k for k, (n, _) in enumerate(self.headers)
                    if self.canon(n) == "via"), 0)
        self.headers = [h for h in self.headers if self.canon(h[0]) != "via"]
        for k, v in enumerate(vias):
            self.headers.insert(idx + k, ["Via", v])

    def set(self, name, value):
        for h in self.headers:
            if self.canon(h[0]) == name:
                h[1] = value
                return
        self.headers.append([name.title(), value])

    @property
    def method(self):
        return None if self.is_response else self.first.split(" ")[0]

    def has_sdp(self):
        ct = (self.get("content-type") or "").split(";")[0].strip().lower()
        return ct == "application/sdp" and len(self.body) > 0

    def encode(self):
        self.set("content-length", str(len(self.body)))
        head = "\r\n".join([self.first] + ["%s: %s" % (n, v)
                                           for n, v in self.headers])
        return head.encode() + b"\r\n\r\n" + self.body


def _split_commas(v):
    """Split a header value at commas outside quotes and <>."""
    out, cur, q, a = [], "", False, False
    for ch in v:
        if ch == '"':
            q = not q
        elif ch == "<" and not q:
            a = True
        elif ch == ">" and not q:
            a = False
        if ch == "," and not q and not a:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [x for x in out if x.strip()]


_VIA_RE = re.compile(r"^SIP\s*/\s*2\.0\s*/\s*(\S+)\s+"
                     r"(\[[^\]]+\]|[^;:\s]+)(?::(\d+))?\s*(.*)$", re.I)


def parse_via(v):
    """(transport, host, port or None, {param: value or None})."""
    m = _VIA_RE.match(v)
    if not m:
        raise ValueError("bad Via %r" % v[:80])
    params = {}
    for p in m.group(4).split(";"):
        p = p.strip()
        if not p:
            continue
        k, eq, val = p.partition("=")
        params[k.strip().lower()] = val.strip() if eq else None
    host = m.group(2).strip("[]")
    return m.group(1).upper(), host, int(m.group(3)) if m.group(3) \
        else None, params


def via_reply_addr(v, src_default_port=5060):
    """Where a response to this Via goes: received/rport, else sent-by."""
    _, host, port, params = parse_via(v)
    host = params.get("received") or host
    rport = params.get("rport")
    if rport:
        port = int(rport)
    return host, port or src_default_port


def rewrite_sdp(body, host, rtp_port, rtcp_port):
    """The SDP with its connection addresses and first audio m= port (and
    a=rtcp) pointing at host:rtp_port. Returns (new body, (old host, old
    port, rtcp-mux?)); raises ValueError on SDP without m=audio."""
    text = body.decode("utf-8", "replace")
    eol = "\r\n" if "\r\n" in text else "\n"
    lines = text.split(eol)
    if lines and lines[-1] == "":
        lines.pop()
    ipv = "IP6" if ":" in host else "IP4"
    old_host, old_port, mux = None, None, False
    in_audio, seen_audio, session_c = False, False, None
    out = []
    for ln in lines:
        if ln.startswith("m="):
            parts = ln[2:].split(" ")
            in_audio = parts[0] == "audio" and not seen_audio
            if in_audio:
                seen_audio = True
                try:
                    old_port = int(parts[1].split("/")[0])
                except (IndexError, ValueError):
                    raise ValueError("bad m= line %r" % ln)
                parts[1] = str(rtp_port)
                ln = "m=" + " ".join(parts)
        elif ln.startswith("c="):
            parts = ln[2:].split(" ")
            if len(parts) < 3:
                raise ValueError("bad c= line %r" % ln)
            if in_audio or not seen_audio:
                addr = parts[2].split("/")[0]
                if in_audio or session_c is None:
                    if in_audio:
                        old_host = addr
                    else:
                        session_c = addr
                ln = "c=IN %s %s" % (ipv, host)
        elif in_audio and ln.startswith("a=rtcp:"):
            ln = "a=rtcp:%d IN %s %s" % (rtcp_port, ipv, host)
        elif in_audio and ln.strip() == "a=rtcp-mux":
            mux = True
        out.append(ln)
    if not seen_audio:
        raise ValueError("SDP has no m=audio")
    old_host = old_host or session_c
    if old_host is None:
        raise ValueError("SDP has no c= line")
    return (eol.join(out) + eol).encode(), (old_host, old_port, mux)


# ---- the impairment schedule ---------------------------------------------

class Schedule:
    """The seeded fate of each packet of one leg (see the module doc)."""

    DEFAULTS = {"seed": 1, "loss": 0.0, "dup": 0.0, "reorder": 0.0,
                "reorder_ms": 30.0, "jitter": 0.0, "late": 0.0,
                "late_ms": 150.0, "clean_first": 0}

    def __init__(self, leg=0, **conf):
        c = dict(self.DEFAULTS)
        unknown = set(conf) - set(c)
        if unknown:
            raise ValueError("unknown schedule keys %s" % sorted(unknown))
        c.update(conf)
        for k in ("loss", "dup", "reorder", "late"):
            if not 0 <= c[k] <= 100:
                raise ValueError("%s must be 0..100 %%" % k)
        for k in ("reorder_ms", "jitter", "late_ms"):
            if not 0 <= c[k] <= 10000:
                raise ValueError("%s must be 0..10000 ms" % k)
        self.c = c
        self.rng = random.Random(int(c["seed"]) + leg)
        self.i = 0

    def next(self):
        """Fate of the next packet: (delays [ms] per copy, flags dict);
        no delays: dropped."""
        c, r = self.c, self.rng
        u_loss, u_late, u_reorder, u_dup, j1, j2 = \
            [r.random() for _ in range(6)]
        i = self.i
        self.i += 1
        flags = {"late": False, "reorder": False, "dup": False}
        if i < c["clean_first"]:
            return [0.0], flags
        if u_loss < c["loss"] / 100:
            return [], flags
        d = j1 * c["jitter"]
        if u_late < c["late"] / 100:
            d += c["late_ms"]
            flags["late"] = True
        elif u_reorder < c["reorder"] / 100:
            d += c["reorder_ms"]
            flags["reorder"] = True
        delays = [d]
        if u_dup < c["dup"] / 100:
            delays.append(d + max(1.0, j2 * c["jitter"]))
            flags["dup"] = True
        return delays, flags


# ---- the relay ---------------------------------------------------------------

class Leg:
    """One call's media through the relay."""

    def __init__(self, relay, n, call_id):
        self.n = n
        self.call_id = call_id
        self.carrier = None           # carrier's RTP address (offer)
        self.carrier_rtcp = None
        self.gateway = None           # gateway's RTP address (answer)
        self.gateway_rtcp = None
        host = relay.host
        self.g_rtp, self.g_rtcp = relay.port_pair(host)   # faces gateway
        self.c_rtp, self.c_rtcp = relay.port_pair(host)   # faces carrier
        self.sched = Schedule(n, **relay.sched_conf)
        self.delivered = 0

    def socks(self):
        return (self.g_rtp, self.g_rtcp, self.c_rtp, self.c_rtcp)

    def close(self):
        for s in self.socks():
            s.close()


class Relay:
    """The relay's sockets and loop; run() until stop() or a bound."""

    def __init__(self, gateway, listen="127.0.0.1:0", log=None,
                 max_seconds=600.0, max_packets=1000000, **sched_conf):
        Schedule(**sched_conf)                 # validate now
        self.sched_conf = sched_conf
        self.gw_sip = _hostport(gateway)
        host, port = _hostport(listen, 0)
        self.host = host
        self.sip = socket.socket(_family(host), socket.SOCK_DGRAM)
        self.sip.bind((host, port))
        self.sip_port = self.sip.getsockname()[1]
        self.max_seconds = max_seconds
        self.max_packets = max_packets
        self.legs = {}                         # call_id -> Leg
        self.by_sock = {}                      # socket -> (Leg, role)
        self.carrier_sip = {}                  # call_id -> carrier address
        self.queue = []                        # (due, tiebreak, leg, i, copy, data)
        self.tiebreak = 0
        self.npackets = 0
        self.stats = {"sip_c2g": 0, "sip_g2c": 0, "sip_bad": 0,
                      "rtp_in": 0, "rtp_dropped": 0, "rtp_out": 0,
                      "rtp_early": 0, "back": 0, "rtcp": 0,
                      "lag_max_ms": 0.0, "lag_sum_ms": 0.0}
        self.logf = open(log, "a") if log else None
        self._stop = False
        self.why = None
        self._wake_r, self._wake_w = socket.socketpair()
        self.log_rec({"ev": "start", "conf": dict(Schedule.DEFAULTS,
                                                  **sched_conf),
                      "sip_port": self.sip_port,
                      "gateway": _fmt(self.gw_sip)})

    # -- helpers -----------------------------------------------------------

    def log_rec(self, rec):
        if self.logf:
            self.logf.write(json.dumps(rec, separators=(",", ":")) + "\n")
            self.logf.flush()

    def port_pair(self, host, tries=200):
        """Two UDP sockets on an even port and the next one."""
        fam = _family(host)
        for _ in range(tries):
            a = socket.socket(fam, socket.SOCK_DGRAM)
            a.bind((host, 0))
            p = a.getsockname()[1]
            if p % 2 or p >= 65535:
                a.close()
                continue
            b = socket.socket(fam, socket.SOCK_DGRAM)
            try:
                b.bind((host, p + 1))
            except OSError:
                a.close()
                b.close()
                continue
            return a, b
        raise OSError("no free RTP port pair on %s" % host)

    def stop(self):
        """Ask the loop to end (any thread)."""
        self._stop = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def close(self):
        for leg in self.legs.values():
            leg.close()
        self.sip.close()
        self._wake_r.close()
        self._wake_w.close()
        if self.logf:
            self.logf.close()
            self.logf = None

    # -- SIP ------------------------------------------------------------------

    def _my_via(self, v):
        try:
            _, host, port, _ = parse_via(v)
        except ValueError:
            return False
        return port == self.sip_port and host == self.host

    def _leg(self, call_id):
        leg = self.legs.get(call_id)
        if leg is None:
            if len(self.legs) >= MAX_LEGS:
                raise ValueError("too many calls through the relay")
            leg = Leg(self, len(self.legs), call_id)
            self.legs[call_id] = leg
            for s, role in zip(leg.socks(), ("g_rtp", "g_rtcp", "c_rtp",
                                             "c_rtcp")):
                self.by_sock[s] = (leg, role)
        return leg

    def _sdp(self, msg, from_carrier):
        """Rewrite msg's SDP; note the sender's media address."""
        call_id = msg.get("call-id")
        if not call_id or not msg.has_sdp():
            return False
        leg = self._leg(call_id)
        # what the gateway sees: the relay's gateway-side pair, and v.v.
        mine = leg.g_rtp if from_carrier else leg.c_rtp
        port = mine.getsockname()[1]
        body, (h, p, mux) = rewrite_sdp(msg.body, self.host, port, port + 1)
        msg.body = body
        ipaddress.ip_address(h)
        addr, rtcp = (h, p), (h, p if mux else p + 1)
        if from_carrier:
            leg.carrier, leg.carrier_rtcp = addr, rtcp
        else:
            leg.gateway, leg.gateway_rtcp = addr, rtcp
        self.log_rec({"ev": "leg", "leg": leg.n, "call_id": call_id,
                      "carrier": _fmt(leg.carrier) if leg.carrier else None,
                      "gateway": _fmt(leg.gateway) if leg.gateway else None,
                      "relay_c": _fmt(leg.c_rtp.getsockname()),
                      "relay_g": _fmt(leg.g_rtp.getsockname())})
        return True

    def on_sip(self, data, src):
        try:
            msg = SipMsg(data)
            from_gw = (src[0], src[1]) == self.gw_sip
            call_id = msg.get("call-id")
            dst = None
            if not from_gw:
                self.stats["sip_c2g"] += 1
                if call_id:
                    self.carrier_sip[call_id] = src[:2]
                if msg.is_response:
                    vias = msg.vias()
                    if not vias:
                        raise ValueError("response without Via")
                    parse_via(vias[0])
                    if self._my_via(vias[0]):
                        msg.set_vias(vias[1:])
                        if len(vias) > 1:
                            dst = via_reply_addr(vias[1])
                    else:                  # to a request of the gateway
                        dst = self.gw_sip
                else:
                    vias = msg.vias()
                    if not vias:
                        raise ValueError("request without Via")
                    top = vias[0]
                    _, vh, vp, params = parse_via(top)
                    # RFC 3581: received and rport on the carrier's Via
                    if "rport" in params or vh != src[0]:
                        top = re.sub(r";\s*rport(=\d*)?", "", top, flags=re.I)
                        top += ";received=%s;rport=%d" % (src[0], src[1])
                    branch = "z9hG4bK-cbr-" + hashlib.sha1(
                        vias[0].encode()).hexdigest()[:20]
                    mine = "SIP/2.0/UDP %s;branch=%s;rport" % (
                        _fmt((self.host, self.sip_port)), branch)
                    msg.set_vias([mine, top] + vias[1:])
                    mf = msg.get("max-forwards")
                    if mf is not None and mf.isdigit():
                        if int(mf) == 0:
                            raise ValueError("Max-Forwards 0")
                        msg.set("max-forwards", str(int(mf) - 1))
                    dst = self.gw_sip
                sdp = self._sdp(msg, from_carrier=True)
            else:
                self.stats["sip_g2c"] += 1
                if msg.is_response:
                    vias = msg.vias()
                    if not vias or not self._my_via(vias[0]) or \
                            len(vias) < 2:
                        raise ValueError("response not via the relay")
                    msg.set_vias(vias[1:])
                    dst = via_reply_addr(vias[1])
                else:
                    dst = self.carrier_sip.get(call_id)
                    if dst is None:
                        raise ValueError("request for an unknown call")
                sdp = self._sdp(msg, from_carrier=False)
            self.log_rec({"ev": "sip", "t": time.monotonic(),
                          "dir": "g2c" if from_gw else "c2g",
                          "line": msg.first, "call_id": call_id,
                          "sdp": sdp})
            if dst:
                self.sip.sendto(msg.encode(), dst)
        except (ValueError, OSError) as e:
            self.stats["sip_bad"] += 1
            self.log_rec({"ev": "sip_error", "t": time.monotonic(),
                          "from": _fmt(src), "error": str(e)})

    # -- media ----------------------------------------------------------------

    def on_media(self, sock, data, src, now):
        leg, role = self.by_sock[sock]
        if role == "c_rtp" and not _is_rtcp(data):
            self.on_carrier_rtp(leg, data, now)
        elif role in ("c_rtp", "c_rtcp"):          # carrier RTCP
            self.stats["rtcp"] += 1
            dst = leg.gateway_rtcp
            if dst:
                (leg.g_rtp if role == "c_rtp" else leg.g_rtcp).sendto(
                    data, dst)
        elif role == "g_rtp" and not _is_rtcp(data):
            self.stats["back"] += 1
            seq = struct.unpack("!H", data[2:4])[0] if len(data) >= 12 \
                else None
            self.log_rec({"ev": "back", "leg": leg.n, "t": now,
                          "seq": seq, "len": len(data)})
            if leg.carrier:
                leg.c_rtp.sendto(data, leg.carrier)
        else:                                        # gateway RTCP
            self.stats["rtcp"] += 1
            if leg.carrier_rtcp:
                (leg.c_rtp if role == "g_rtp" else leg.c_rtcp).sendto(
                    data, leg.carrier_rtcp)

    def on_carrier_rtp(self, leg, data, now):
        self.npackets += 1
        hdr = None
        if len(data) >= 12 and data[0] >> 6 == 2:
            b0, b1, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
            hdr = {"seq": seq, "ts": ts, "ssrc": ssrc, "pt": b1 & 0x7F,
                   "m": bool(b1 & 0x80)}
        if leg.gateway is None:
            self.stats["rtp_early"] += 1
            self.log_rec({"ev": "early", "leg": leg.n, "t": now,
                          "seq": hdr["seq"] if hdr else None})
            return
        self.stats["rtp_in"] += 1
        i = leg.sched.i
        delays, flags = leg.sched.next()
        rec = {"ev": "rtp", "leg": leg.n, "i": i, "t": now, "len": len(data),
               "fate": "pass" if delays else "drop",
               "delays": [round(d, 3) for d in delays]}
        rec.update(hdr or {"seq": None, "ts": None, "ssrc": None,
                           "pt": None, "m": False})
        rec.update(flags)
        self.log_rec(rec)
        if not delays:
            self.stats["rtp_dropped"] += 1
            return
        for k, d in enumerate(delays):
            if len(self.queue) >= MAX_QUEUE:
                self.stats["rtp_dropped"] += 1
                self.log_rec({"ev": "overflow", "leg": leg.n, "i": i})
                continue
            self.tiebreak += 1
            heapq.heappush(self.queue, (now + d / 1000.0, self.tiebreak,
                                        leg.n, i, k, data))

    def flush_due(self, now):
        legs = {lg.n: lg for lg in self.legs.values()}
        while self.queue and self.queue[0][0] <= now:
            due, _, n, i, k, data = heapq.heappop(self.queue)
            leg = legs[n]
            t = time.monotonic()
            try:
                leg.g_rtp.sendto(data, leg.gateway)
            except OSError as e:
                self.log_rec({"ev": "tx_error", "leg": n, "i": i,
                              "error": str(e)})
                continue
            lag = (t - due) * 1000.0
            self.stats["rtp_out"] += 1
            self.stats["lag_sum_ms"] += lag
            self.stats["lag_max_ms"] = max(self.stats["lag_max_ms"], lag)
            self.log_rec({"ev": "tx", "leg": n, "i": i, "copy": k,
                          "due": due, "t": t, "n": leg.delivered})
            leg.delivered += 1

    # -- loop -----------------------------------------------------------------

    def run(self):
        """Serve until stop(), SIGTERM (from main) or a bound; returns the
        reason."""
        t_end = time.monotonic() + self.max_seconds
        why = "stopped"
        while not self._stop:
            now = time.monotonic()
            if now >= t_end:
                why = "max-seconds"
                break
            if self.npackets >= self.max_packets:
                why = "max-packets"
                break
            timeout = min(0.5, t_end - now)
            if self.queue:
                timeout = max(0.0, min(timeout, self.queue[0][0] - now))
            socks = [self.sip, self._wake_r] + list(self.by_sock)
            try:
                r, _, _ = select.select(socks, [], [], timeout)
            except InterruptedError:
                continue
            # due packets first: their time came before anything read now
            self.flush_due(time.monotonic())
            for s in r:
                if s is self._wake_r:
                    self._wake_r.recv(64)
                    continue
                for _ in range(64):          # bounded batch per socket
                    try:
                        data, src = s.recvfrom(MAX_DGRAM,
                                               socket.MSG_DONTWAIT)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break              # ICMP error reported: ignore
                    now = time.monotonic()
                    if s is self.sip:
                        self.on_sip(data, src)
                    else:
                        self.on_media(s, data, src, now)
            self.flush_due(time.monotonic())
        st = dict(self.stats)
        st["lag_avg_ms"] = st["lag_sum_ms"] / st["rtp_out"] \
            if st["rtp_out"] else 0.0
        del st["lag_sum_ms"]
        self.why = why
        self.log_rec({"ev": "end", "why": why, "stats": st,
                      "pending": len(self.queue)})
        return why


# ---- reading a log ---------------------------------------------------------

def read_log(path):
    """The log's records (complete lines only)."""
    out = []
    with open(path) as f:
        for line in f:
            if line.endswith("\n"):
                out.append(json.loads(line))
    return out


def _unwrap(seqs):
    """16-bit sequence numbers -> extended, following the stream."""
    out, last = [], None
    for s in seqs:
        if last is None:
            e = s
        else:
            d = (s - (last & 0xFFFF)) & 0xFFFF
            e = last + d if d < 0x8000 else last - (0x10000 - d)
        out.append(e)
        last = e if last is None or e > last else last
    return out


def deliveries(records, leg=0):
    """What the gateway got on a leg, in delivery order: a list of dicts
    {t, seq (extended), ts, i, copy, due, pkt (the rtp record)}."""
    pkts = {r["i"]: r for r in records if r["ev"] == "rtp" and
            r["leg"] == leg}
    txs = sorted((r for r in records if r["ev"] == "tx" and
                  r["leg"] == leg), key=lambda r: r["n"])
    out = []
    for r in txs:
        p = pkts[r["i"]]
        out.append({"t": r["t"], "seq": p["seq"], "ts": p["ts"],
                    "i": r["i"], "copy": r["copy"], "due": r["due"],
                    "pkt": p})
    ext = _unwrap([d["seq"] for d in out])
    for d, e in zip(out, ext):
        d["seq"] = e
    return out


def expected_jb(records, leg=0, pts=None):
    """The jitter buffer counters (docs/jitter-buffer.md) that follow from
    what the relay delivered on a leg, for packets of payload types pts
    (default: all):

      received   deliveries
      duplicate  deliveries minus distinct sequence numbers
      lost       sequence numbers between the lowest and highest
                 delivered that were never delivered
      reordered  first copies delivered after a higher sequence number

    Also: dropped_seqs (sequence numbers the relay dropped, within the
    delivered range), first (seq -> first delivery dict), delivered."""
    dl = [d for d in deliveries(records, leg)
          if pts is None or d["pkt"]["pt"] in pts]
    first, highest, reordered, dup = {}, None, 0, 0
    for d in dl:
        s = d["seq"]
        if s in first:
            dup += 1
            continue
        first[s] = d
        if highest is not None and s < highest:
            reordered += 1
        highest = s if highest is None else max(highest, s)
    lo = min(first) if first else 0
    hi = max(first) if first else -1
    missing = [s for s in range(lo, hi + 1) if s not in first]
    return {"received": len(dl), "duplicate": dup, "lost": len(missing),
            "reordered": reordered, "dropped_seqs": missing,
            "first": first, "delivered": dl}


# ---- running it -----------------------------------------------------------

class RelayProcess:
    """relay.py as a subprocess on an ephemeral loopback port.

        with RelayProcess("127.0.0.1:5060", log=path, seed=7, loss=5) as r:
            ... SIPp sends to 127.0.0.1:r.sip_port ...
        records = read_log(path)
    """

    def __init__(self, gateway, log, listen="127.0.0.1", timeout=10.0,
                 max_seconds=600, **sched):
        args = [sys.executable, os.path.abspath(__file__), "--gateway",
                gateway, "--listen", listen, "--log", log,
                "--max-seconds", str(max_seconds)]
        for k, v in sched.items():
            args += ["--" + k.replace("_", "-"), str(v)]
        self.log = log
        self.returncode = None
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        got = []
        t = threading.Thread(target=lambda: got.append(
            self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        line = got[0].decode() if got else ""
        if not line.startswith("SIP "):
            self.stop()
            raise RuntimeError("relay did not start: %r %s"
                               % (line, self.stderr))
        self.sip_port = int(line.split()[1])
        self.stderr = ""

    def records(self):
        return read_log(self.log)

    def stop(self, timeout=10.0):
        if self.returncode is not None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.returncode = "killed"
        self.stderr = self.proc.stderr.read().decode(errors="replace")
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="SIP/RTP relay impairing the carrier's RTP by a seeded "
                    "schedule (see the module doc)")
    ap.add_argument("--gateway", required=True, help="gateway SIP IP:PORT")
    ap.add_argument("--listen", default="127.0.0.1",
                    help="relay IP[:PORT] (default 127.0.0.1, any port)")
    ap.add_argument("--log", help="JSON-lines log file (appended)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--loss", type=float, default=0.0, help="[%%]")
    ap.add_argument("--dup", type=float, default=0.0, help="[%%]")
    ap.add_argument("--reorder", type=float, default=0.0, help="[%%]")
    ap.add_argument("--reorder-ms", type=float, default=30.0)
    ap.add_argument("--jitter", type=float, default=0.0,
                    help="uniform extra delay 0..MS per packet")
    ap.add_argument("--late", type=float, default=0.0, help="[%%]")
    ap.add_argument("--late-ms", type=float, default=150.0)
    ap.add_argument("--clean-first", type=int, default=0,
                    help="packets passed unimpaired at the start of a leg")
    ap.add_argument("--max-seconds", type=float, default=600.0)
    ap.add_argument("--max-packets", type=int, default=1000000)
    a = ap.parse_args(argv)
    try:
        for addr in (a.gateway, a.listen):
            host = _hostport(addr, 0)[0]
            if not ipaddress.ip_address(host).is_loopback:
                raise ValueError("%s is not a loopback address" % host)
        relay = Relay(a.gateway, a.listen, a.log, a.max_seconds,
                      a.max_packets, seed=a.seed, loss=a.loss, dup=a.dup,
                      reorder=a.reorder, reorder_ms=a.reorder_ms,
                      jitter=a.jitter, late=a.late, late_ms=a.late_ms,
                      clean_first=a.clean_first)
    except (ValueError, OSError) as e:
        print("relay: %s" % e, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: relay.stop())
    signal.signal(signal.SIGINT, lambda *_: relay.stop())
    print("SIP %d" % relay.sip_port, flush=True)
    why = relay.run()
    st = dict(relay.stats)
    relay.close()
    print("relay: %s: %d RTP in, %d dropped, %d out, lag max %.2f ms"
          % (why, st["rtp_in"], st["rtp_dropped"], st["rtp_out"],
             st["lag_max_ms"]), file=sys.stderr)
    return 0 if why == "stopped" else 3


if __name__ == "__main__":
    sys.exit(main())
