#!/usr/bin/env python3
"""Write RTP in a pcap that SIPp's play_pcap_audio replays; read pcaps back.

Usage:
  mkpcap.py IN.raw OUT.pcap [--law ulaw|alaw] [--pt N] [--ssrc N]
            [--seq N] [--ts N] [--ptime 20] [--src IP:PORT] [--dst IP:PORT]
            [--start EPOCH] [--dtmf DIGIT@MS[+DURMS]]... [--dtmf-pt 101]
            [--dtmf-keep-audio]

IN.raw is raw µ-law or A-law at 8 kHz (see gensig.py). Every --ptime ms
gets one RTP packet of 8*ptime bytes; the last one is padded with the law's
silence. The first audio packet has the marker bit; sequence numbers and
timestamps (8 kHz clock) count on from --seq and --ts and wrap; the pcap
timestamps are spaced exactly --ptime apart from --start.

--dtmf 5@1000+160 inserts an RFC 4733 telephone-event for digit 5 at 1000 ms
lasting 160 ms (default 100 ms): one packet per ptime with the marker on
the first, the event's start timestamp and a growing duration, then three
end packets (E bit, final duration), one per ptime. Audio is suppressed
while the event plays (as most gateways do) unless --dtmf-keep-audio; the
media clock runs on, so audio resumes with the timestamp of its time.

Format (what SIPp 3.6.1's prepare_pcap.c accepts): classic libpcap,
microsecond timestamps, link type Ethernet (DLT_EN10MB), IPv4 or IPv6
(from the addresses), UDP, captured length equal to wire length. SIPp keeps
the UDP payload (the RTP header included) and rewrites only the ports,
addresses and UDP checksum; all packets use the same ports here.

As a module: read_pcap(path) -> [Packet], parse_rtp(bytes) -> dict.
"""

import argparse
import ipaddress
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import g711  # noqa: E402

PCAP_MAGIC_US = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL = 113
DTMF_EVENTS = "0123456789*#ABCD"


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _udp(src, sport, dst, dport, payload, ident):
    """Ethernet frame with IPv4/IPv6 and UDP around payload."""
    ulen = 8 + len(payload)
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 17, ulen)
    else:
        pseudo = src.packed + dst.packed + struct.pack("!I3xB", ulen, 17)
    hdr = struct.pack("!HHHH", sport, dport, ulen, 0)
    ck = _csum(pseudo + hdr + payload) or 0xFFFF
    udp = struct.pack("!HHHH", sport, dport, ulen, ck) + payload
    if src.version == 4:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, ident & 0xFFFF,
                         0x4000, 64, 17, 0, src.packed, dst.packed)
        ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
        etype = 0x0800
    else:
        ip = struct.pack("!IHBB16s16s", 6 << 28, ulen, 17, 64, src.packed,
                         dst.packed)
        etype = 0x86DD
    eth = bytes.fromhex("020000000002") + bytes.fromhex("020000000001") + \
        struct.pack("!H", etype)
    return eth + ip + udp


def rtp_header(pt, seq, ts, ssrc, marker=False):
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt,
                       seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc & 0xFFFFFFFF)


def dtmf_payload(event, end, volume, duration):
    return struct.pack("!BBH", event, (0x80 if end else 0) | volume,
                       duration)


def parse_dtmf(spec):
    """"5@1000+160" -> (event, start_ms, duration_ms)."""
    try:
        digit, rest = spec.split("@", 1)
        at, _, dur = rest.partition("+")
        digit = digit.upper()
        if len(digit) != 1 or digit not in DTMF_EVENTS:
            raise ValueError
        at, dur = int(at), int(dur) if dur else 100
        if at < 0 or not 0 < dur <= 10000:
            raise ValueError
    except ValueError:
        raise ValueError("bad --dtmf %r: want DIGIT@MS[+DURMS]" % spec)
    return DTMF_EVENTS.index(digit), at, dur


def build(audio, law="ulaw", pt=None, ssrc=0x1CB0B0E5, seq=1000, ts=0,
          ptime=20, src="127.0.0.1:40000", dst="127.0.0.1:6000",
          start=1700000000.0, dtmf=(), dtmf_pt=101, keep_audio=False):
    """The packets as a list of (time [s], udp_payload, frame)."""
    if pt is None:
        pt = 0 if law == "ulaw" else 8
    if not 10 <= ptime <= 120 or ptime % 10:
        raise ValueError("ptime must be 10..120 ms in steps of 10")
    shost, sport = src.rsplit(":", 1)
    dhost, dport = dst.rsplit(":", 1)
    sip = ipaddress.ip_address(shost.strip("[]"))
    dip = ipaddress.ip_address(dhost.strip("[]"))
    if sip.version != dip.version:
        raise ValueError("--src and --dst must be the same IP version")
    sport, dport = int(sport), int(dport)
    step = 8 * ptime                          # samples per packet
    nslots = (len(audio) + step - 1) // step
    pad = g711.silence_byte(law)

    # slot -> list of (payload, marker, is_dtmf)
    events = {}
    muted = set()
    for event, at, dur in sorted(dtmf, key=lambda e: e[1]):
        first = at // ptime
        n = (dur + ptime - 1) // ptime
        ets = first * step
        for j in range(n):
            d = min((j + 1) * step, dur * 8)
            events.setdefault(first + j, []).append(
                (ets, dtmf_payload(event, False, 10, d), j == 0))
        for j in range(3):
            events.setdefault(first + n + j, []).append(
                (ets, dtmf_payload(event, True, 10, dur * 8), False))
        muted.update(range(first, first + n + 3))
        nslots = max(nslots, first + n + 3)

    out, s, ident, first = [], seq, 0, True
    for k in range(nslots):
        t = start + k * ptime / 1000.0
        if (k not in muted or keep_audio) and k * step < len(audio):
            chunk = audio[k * step:(k + 1) * step]
            chunk += bytes([pad]) * (step - len(chunk))
            p = rtp_header(pt, s, ts + k * step, ssrc, first) + chunk
            first = False
            out.append((t, p, _udp(sip, sport, dip, dport, p, ident)))
            s, ident = s + 1, ident + 1
        for ets, payload, marker in events.get(k, []):
            p = rtp_header(dtmf_pt, s, ts + ets, ssrc, marker) + payload
            out.append((t, p, _udp(sip, sport, dip, dport, p, ident)))
            s, ident = s + 1, ident + 1
    return out


def write_pcap(path, packets, linktype=LINKTYPE_ETHERNET):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, 65535,
                            linktype))
        for t, _, frame in packets:
            sec = int(t)
            usec = int(round((t - sec) * 1e6))
            if usec >= 1000000:
                sec, usec = sec + 1, usec - 1000000
            f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
            f.write(frame)


class Packet:
    """One UDP packet of a pcap: time [s], addresses, ports, payload."""

    def __init__(self, t, src, sport, dst, dport, payload, caplen, wirelen):
        self.t, self.src, self.sport = t, src, sport
        self.dst, self.dport, self.payload = dst, dport, payload
        self.caplen, self.wirelen = caplen, wirelen

    @property
    def rtp(self):
        return parse_rtp(self.payload)


def parse_rtp(data):
    """RTP fixed header (RFC 3550) and payload as a dict, or None."""
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    b0, b1, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
    cc = b0 & 0x0F
    off = 12 + 4 * cc
    if b0 & 0x10:                       # header extension
        if len(data) < off + 4:
            return None
        off += 4 + 4 * struct.unpack("!H", data[off + 2:off + 4])[0]
    end = len(data)
    if b0 & 0x20:                       # padding
        end -= data[-1]
    if off > end:
        return None
    r = {"pt": b1 & 0x7F, "marker": bool(b1 & 0x80), "seq": seq, "ts": ts,
         "ssrc": ssrc, "payload": data[off:end]}
    if len(r["payload"]) == 4:
        ev, flags, dur = struct.unpack("!BBH", r["payload"])
        r["event"] = {"event": ev, "end": bool(flags & 0x80),
                      "volume": flags & 0x3F, "duration": dur}
    return r


def read_pcap(path):
    """UDP packets of a classic pcap (Ethernet or Linux cooked, IPv4/6)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise ValueError("%s: not a pcap" % path)
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        e = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        e = ">"
    else:
        raise ValueError("%s: not a classic pcap" % path)
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    link = struct.unpack(e + "I", data[20:24])[0]
    out, off = [], 24
    while off + 16 <= len(data):
        sec, frac, caplen, wirelen = struct.unpack(e + "IIII",
                                                   data[off:off + 16])
        frame = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        if len(frame) < caplen:
            raise ValueError("%s: truncated" % path)
        t = sec + frac / (1e9 if nano else 1e6)
        if link == LINKTYPE_ETHERNET:
            etype, ip = struct.unpack("!H", frame[12:14])[0], frame[14:]
        elif link == LINKTYPE_LINUX_SLL:
            etype, ip = struct.unpack("!H", frame[14:16])[0], frame[16:]
        else:
            raise ValueError("%s: link type %d" % (path, link))
        if etype == 0x0800 and ip[9] == 17:
            ihl = (ip[0] & 0x0F) * 4
            src, dst = ipaddress.ip_address(ip[12:16]), \
                ipaddress.ip_address(ip[16:20])
            udp = ip[ihl:]
        elif etype == 0x86DD and ip[6] == 17:
            src, dst = ipaddress.ip_address(ip[8:24]), \
                ipaddress.ip_address(ip[24:40])
            udp = ip[40:]
        else:
            continue
        sport, dport, ulen = struct.unpack("!HHH", udp[:6])
        out.append(Packet(t, src, sport, dst, dport, udp[8:ulen], caplen,
                          wirelen))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("inp", metavar="IN.raw")
    ap.add_argument("out", metavar="OUT.pcap")
    ap.add_argument("--law", choices=("ulaw", "alaw"))
    ap.add_argument("--pt", type=int)
    ap.add_argument("--ssrc", type=lambda s: int(s, 0), default=0x1CB0B0E5)
    ap.add_argument("--seq", type=int, default=1000)
    ap.add_argument("--ts", type=lambda s: int(s, 0), default=0)
    ap.add_argument("--ptime", type=int, default=20)
    ap.add_argument("--src", default="127.0.0.1:40000")
    ap.add_argument("--dst", default="127.0.0.1:6000")
    ap.add_argument("--start", type=float, default=1700000000.0)
    ap.add_argument("--dtmf", action="append", default=[])
    ap.add_argument("--dtmf-pt", type=int, default=101)
    ap.add_argument("--dtmf-keep-audio", action="store_true")
    a = ap.parse_args(argv)
    law = a.law or ("alaw" if a.pt == 8 else "ulaw")
    pt = a.pt if a.pt is not None else (0 if law == "ulaw" else 8)
    if not 0 <= pt <= 127 or not 0 <= a.dtmf_pt <= 127:
        ap.error("payload types are 0..127")
    if not 0 <= a.seq <= 65535 or not 0 <= a.ssrc <= 0xFFFFFFFF:
        ap.error("--seq is 16 bits, --ssrc 32 bits")
    try:
        dtmf = [parse_dtmf(d) for d in a.dtmf]
        with open(a.inp, "rb") as f:
            audio = f.read()
        if not audio and not dtmf:
            ap.error("%s is empty" % a.inp)
        pkts = build(audio, law, pt, a.ssrc, a.seq, a.ts, a.ptime, a.src,
                     a.dst, a.start, dtmf, a.dtmf_pt, a.dtmf_keep_audio)
    except (OSError, ValueError) as e:
        ap.error(str(e))
    write_pcap(a.out, pkts)
    print("%s: %d packets, %.2f s" % (a.out, len(pkts),
                                      pkts[-1][0] - pkts[0][0] if pkts
                                      else 0), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
