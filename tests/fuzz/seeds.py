#!/usr/bin/env python3
"""Write the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/).

The seeds are the unit tests' own messages (tests/unit/...), put in each
target's input format (see the target's file comment). Run it again after
changing a format: it rewrites the seed-* files and leaves the others
(crashes and coverage that fuzzing found) alone.

    python3 tests/fuzz/seeds.py
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CRLF = "\r\n"


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# --- SDP (tests/unit/sip/test_callsdp.c) ---------------------------------

HEAD4 = ("v=0" + CRLF + "o=carrier 1001 1 IN IP4 127.0.0.2" + CRLF +
         "s=call" + CRLF + "c=IN IP4 127.0.0.2" + CRLF + "t=0 0" + CRLF)
HEAD6 = ("v=0" + CRLF + "o=carrier 1001 1 IN IP6 ::1" + CRLF +
         "s=call" + CRLF + "c=IN IP6 ::1" + CRLF + "t=0 0" + CRLF)
PCMU = "a=rtpmap:0 PCMU/8000" + CRLF
PCMA = "a=rtpmap:8 PCMA/8000" + CRLF
CN = "a=rtpmap:13 CN/8000" + CRLF


def TE(pt, hz):
    return "a=rtpmap:%d telephone-event/%d%sa=fmtp:%d 0-16%s" % (
        pt, hz, CRLF, pt, CRLF)


def OPUS(pt):
    return "a=rtpmap:%d opus/48000/2%sa=fmtp:%d minptime=10;useinbandfec=1%s" % (
        pt, CRLF, pt, CRLF)


KEY_A = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
KEY_B = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xd"
C80 = " AES_CM_128_HMAC_SHA1_80 inline:"
C32 = " AES_CM_128_HMAC_SHA1_32 inline:"


def sdp_seeds():
    # (name, set byte, ops byte, bodies)
    off = [
        ("pcmu", 0x00, 0, [HEAD4 + "m=audio 40000 RTP/AVP 0" + CRLF]),
        ("pcma-te", 0x00, 0, [HEAD4 + "m=audio 40000 RTP/AVP 8 96" + CRLF +
                              PCMA + TE(96, 8000)]),
        ("opus-first", 0x10, 0, [HEAD4 + "m=audio 40000 RTP/AVP 111 0 13 101"
                                 " 100" + CRLF + OPUS(111) + PCMU + CN +
                                 TE(101, 48000) + TE(100, 8000)]),
        ("opus-16k", 0x18, 0, [HEAD4 + "m=audio 40000 RTP/AVP 107" + CRLF +
                               "a=rtpmap:107 opus/48000/2" + CRLF +
                               "a=fmtp:107 maxplaybackrate=16000" + CRLF]),
        ("g729-only", 0x00, 0, [HEAD4 + "m=audio 40000 RTP/AVP 18 3 101" +
                                CRLF + "a=rtpmap:18 G729/8000" + CRLF +
                                TE(101, 8000)]),
        ("ptime-mux", 0x00, 0, [HEAD4 + "m=audio 40000 RTP/AVP 8" + CRLF +
                                PCMA + "a=ptime:30" + CRLF + "a=rtcp-mux" +
                                CRLF + "a=rtcp:40001 IN IP4 127.0.0.3" +
                                CRLF]),
        ("ipv6", 0x20, 0, [HEAD6 + "m=audio 40000 RTP/AVP 0 101" + CRLF +
                           PCMU + TE(101, 8000)]),
        ("lf-only", 0x00, 0, ["v=0\no=carrier 1 1 IN IP4 127.0.0.2\ns=-\n"
                              "c=IN IP4 127.0.0.2\nt=0 0\n"
                              "m=audio 40000 RTP/AVP 0\n"]),
        ("video-first", 0x00, 0, [HEAD4 + "m=video 40010 RTP/AVP 96" + CRLF +
                                  "a=rtpmap:96 H264/90000" + CRLF +
                                  "m=audio 40000 RTP/AVP 0" + CRLF]),
        ("hold-reinvite", 0x00, 0, [
            HEAD4 + "m=audio 40000 RTP/AVP 0 101" + CRLF + PCMU +
            TE(101, 8000),
            HEAD4.replace("c=IN IP4 127.0.0.2", "c=IN IP4 0.0.0.0") +
            "m=audio 40000 RTP/AVP 0 101" + CRLF + PCMU + "a=sendonly" + CRLF,
            HEAD4 + "m=audio 40002 RTP/AVP 0" + CRLF + "a=inactive" + CRLF,
            HEAD4 + "m=audio 40000 RTP/AVP 8" + CRLF + PCMA]),
        ("session-dir", 0x00, 0, [HEAD4 + "a=sendonly" + CRLF +
                                  "m=audio 40000 RTP/AVP 0" + CRLF]),
        ("port0", 0x00, 0, [HEAD4 + "m=audio 0 RTP/AVP 0" + CRLF + PCMU]),
        ("bad-version", 0x00, 0, ["v=1" + CRLF + "m=audio 40000 RTP/AVP 0" +
                                  CRLF]),
        ("bad-c", 0x00, 0, ["v=0" + CRLF + "c=IN IP9 x" + CRLF +
                            "m=audio 40000 RTP/AVP 0" + CRLF]),
        ("no-media", 0x00, 0, [HEAD4]),
        ("srtp-req", 0x02, 0, [HEAD4 + "m=audio 40000 RTP/SAVP 0 101" + CRLF +
                               PCMU + TE(101, 8000) + "a=crypto:1" + C80 +
                               KEY_A + CRLF]),
        ("srtp-opt-32", 0x01, 0, [HEAD4 + "m=audio 40000 RTP/SAVP 0" + CRLF +
                                  "a=crypto:3" + C32 + KEY_B + CRLF]),
        ("srtp-several", 0x01, 0, [HEAD4 + "m=audio 40000 RTP/SAVP 8" + CRLF +
                                   PCMA + "a=crypto:1 F8_128_HMAC_SHA1_80 "
                                   "inline:AAAAAAAA" + CRLF + "a=crypto:2" +
                                   C32 + KEY_B + CRLF + "a=crypto:3" + C80 +
                                   KEY_A + CRLF]),
        ("srtp-mki", 0x02, 0, [HEAD4 + "m=audio 40000 RTP/SAVP 0" + CRLF +
                               "a=crypto:1" + C80 + KEY_A + "|2^20|1:4" +
                               CRLF + "a=crypto:2" + C80 + KEY_A +
                               " UNENCRYPTED_SRTP" + CRLF]),
        ("srtp-nokey", 0x02, 0, [HEAD4 + "m=audio 40000 RTP/SAVP 0" + CRLF +
                                 PCMU]),
        # our offer, then the peer's answer
        ("ans-pcma", 0x00, 1, [HEAD4 + "m=audio 40000 RTP/AVP 8 101" + CRLF +
                               PCMA + TE(101, 8000) + "a=ptime:20" + CRLF]),
        ("ans-opus-mux", 0x10, 1, [HEAD4 + "m=audio 40000 RTP/AVP 111 102" +
                                   CRLF + "a=rtpmap:111 opus/48000/2" + CRLF +
                                   "a=fmtp:111 stereo=1" + CRLF +
                                   TE(102, 48000) + "a=rtcp-mux" + CRLF]),
        ("ans-srtp", 0x02, 1, [HEAD4 + "m=audio 40000 RTP/SAVP 0" + CRLF +
                               "a=crypto:1" + C80 + KEY_B + CRLF +
                               "a=recvonly" + CRLF]),
        ("ans-g729", 0x00, 1, [HEAD4 + "m=audio 40000 RTP/AVP 18" + CRLF +
                               "a=rtpmap:18 G729/8000" + CRLF]),
        ("ans-v6-then-offer", 0x20, 1, [
            HEAD6 + "m=audio 40000 RTP/AVP 0" + CRLF,
            HEAD6 + "m=audio 40004 RTP/AVP 0" + CRLF + PCMU]),
    ]
    for name, s, ops, bodies in off:
        data = bytes([s, ops]) + b"\0".join(b.encode() for b in bodies)
        write("sdp", name + ".bin", data)


# --- agent messages (tests/unit/agent/test_twilio.c) ---------------------

TWILIO = [
    '{"event":"media","streamSid":"MZ1","media":{"payload":"AAEC"}}',
    '{"event":"media","media":{"track":"outbound","chunk":"1",'
    '"timestamp":"5","payload":"f39/fw=="},"streamSid":"MZ1"}',
    ' { "x" : [1, -2.5e+3, true, false, null, {"y":null}] } , '
    '"event" : "media" } ',
    '{"event":"media","media":{"payload":"a\\/b="}}',
    '{"event":"media","media":{"payload":""}}',
    '{"event":"media","media":{"payload":12}}',
    '{"event":"media","event":"media","media":{"payload":""}}',
    '{"event":"m\\u0065dia","media":{"payload":"AAAA"}}',
    '{"event":"media","media":{"payload":"AAAA"},"n":"\xc3\xa9"}',
    '{"event":"media","media":{"payload":"AAAA"}}x',
    '{"event":"mark","mark":{"name":"m1"}}',
    '{"event":"mark","mark":{"name":null}}',
    '{"event":"mark"}',
    '{"event":"mark","mark":{"name":7}}',
    '{"event":"clear","streamSid":"MZ"}',
    '{"event":"dtmf","dtmf":{"digit":"5","duration":200}}',
    '{"event":"dtmf","dtmf":{"digit":"#"}}',
    '{"event":"dtmf","dtmf":{"digit":"5","duration":39}}',
    '{"event":"dtmf","dtmf":{"digit":"55"}}',
    '{"event":"whatever","media":{"payload":"AAAA"}}',
    '{"media":{"payload":"AAAA"}}',
]


def twilio_seeds():
    for i, t in enumerate(TWILIO):
        write("twilio", "%02d.json" % i, t.encode("latin-1"))
    # { first, the JSON fast path's depth
    write("twilio", "deep.json", '{"event":"media","a":' + "[" * 40 +
          "]" * 40 + ',"media":{"payload":"AAAA"}}')


# --- WebSocket frames (tests/unit/agent/test_wsproto.c, test_alink_rx.c) --

def frame(b0, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload)
    if n < 126:
        h = bytes([b0, n])
    elif n < 65536:
        h = bytes([b0, 126]) + struct.pack(">H", n)
    else:
        h = bytes([b0, 127]) + struct.pack(">Q", n)
    return h + payload


WS = [
    ("text-bin", frame(0x81, "hello") + frame(0x82, b"\x01\x02")),
    ("fragments-ping", frame(0x01, "Hel") + frame(0x89, "p1") +
     frame(0x00, "lo ") + frame(0x80, "world") + frame(0x8a, "unasked")),
    ("close-1001", frame(0x88, b"\x03\xe9going") + frame(0x81, "late")),
    ("close-empty", frame(0x88, b"")),
    ("len16", frame(0x82, b"x" * 300) + frame(0x81, "ok")),
    ("empty-msgs", frame(0x81, "") + frame(0x89, "") + frame(0x8a, "q")),
    ("masked", bytes([0x81, 0x81, 1, 2, 3, 4, ord("a")])),
    ("opcode3", bytes([0x83, 0x00])),
    ("long-ping", bytes([0x89, 126, 0, 126]) + b"p" * 126),
    ("stray-cont", bytes([0x80, 0x00])),
    ("text-in-frag", bytes([0x01, 0x00, 0x81, 0x00])),
    ("len-top-bit", bytes([0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1])),
    ("rsv", bytes([0xc1, 0x01, 0x41])),
    ("len64", bytes([0x82, 127, 0, 0, 0, 0, 0, 0, 0, 3]) + b"abc"),
    ("frag-ping", bytes([0x09, 0x00])),
    ("twilio-media", frame(0x81, TWILIO[0])),
]


def ws_seeds():
    # wsframe: max (x16), read size, stop-after, then the bytes
    for i, (name, b) in enumerate(WS):
        write("wsframe", name + ".bin", bytes([0, (i * 3) % 7, 0]) + b)
    write("wsframe", "oversized.bin", bytes([1, 5, 0]) + frame(0x82, b"y" * 40) +
          frame(0x81, "fits"))
    write("wsframe", "stop-after-1.bin", bytes([0, 0, 1]) + WS[1][1])


def agent_raw_seeds():
    resp = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Accept: @ACCEPT@\r\n\r\n")
    pcm = bytes(range(64)) * 5                    # 320 bytes, 20 ms
    msgs = (frame(0x82, pcm) + frame(0x82, pcm[:-1]) +
            frame(0x81, TWILIO[10]) + frame(0x81, TWILIO[15]) +
            frame(0x81, TWILIO[14]) + frame(0x81, TWILIO[0]) +
            frame(0x89, "hb"))
    write("agent_raw", "resp-then-frames.bin", b"\x00" + resp.encode() + msgs)
    write("agent_raw", "resp-split.bin", b"\x04" + resp.encode() + msgs)
    write("agent_raw", "frames.bin", b"\x01" + msgs)
    write("agent_raw", "frames-writable.bin", b"\x13" + msgs +
          frame(0x88, b"\x03\xe8bye"))
    write("agent_raw", "proto-error.bin", b"\x01" + frame(0x82, pcm) +
          bytes([0x83, 0x00]))
    write("agent_raw", "resp-403.bin", b"\x00" + b"HTTP/1.1 403 Forbidden\r\n"
          b"Content-Length: 0\r\n\r\n")
    write("agent_raw", "resp-bad-accept.bin", b"\x00" + resp.replace(
        "@ACCEPT@", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=").encode())
    write("agent_raw", "resp-no-upgrade.bin", b"\x00" + resp.replace(
        "Upgrade: websocket\r\n", "").encode())
    write("agent_raw", "resp-proto.bin", b"\x00" + resp.replace(
        "\r\n\r\n", "\r\nSec-WebSocket-Protocol: x\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n").encode() +
        msgs)


# --- RTP, RTCP, RFC 4733, jitter buffer (tests/unit/rtp/) ----------------

def rtp(pt, seq, ts, ssrc=0x01020304, m=False, payload=b"", b0=0x80):
    return bytes([b0, (0x80 if m else 0) | pt]) + struct.pack(
        ">HII", seq & 0xffff, ts & 0xffffffff, ssrc) + payload


def pkt(flags, dt_ms, data):
    return bytes([flags, dt_ms]) + struct.pack(">H", len(data)) + data


HDR = bytes([0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4])
RTPKT = [   # test_rtpkt.c's table
    bytes([0x80, 0x00]) + HDR + b"\xff" * 4,
    bytes([0x80, 0x08]) + HDR,
    bytes([0x80, 0xe5]) + HDR + bytes([1, 2, 3, 4]),
    bytes([0x82, 0x00]) + HDR + bytes([0, 0, 0, 5, 0, 0, 0, 6, 0xaa]),
    bytes([0x90, 0x00]) + HDR + bytes([0xbe, 0xde, 0, 1, 1, 2, 3, 4,
                                       0x55, 0x66]),
    bytes([0xb1, 0x00]) + HDR + bytes([0, 0, 0, 7, 0xbe, 0xde, 0, 1, 9, 9,
                                       9, 9, 0x42, 0x43, 0, 0, 3]),
    bytes([0xa0, 0x00]) + HDR + bytes([0x11, 0x22, 1]),
    bytes([0xa0, 0x00]) + HDR + bytes([0, 0, 0, 4]),
    bytes([0xa0, 0x00]) + HDR + bytes([0, 0, 0, 9]),
    bytes([0x00, 0x00]) + HDR + b"\x01",
    bytes([0x80, 0xc8]) + HDR,
]


def stream(n, dt=20, pt=0, ssrc=0x1111, seq0=100, ts0=8000, step=160,
           size=160, m0=True, flags=0):
    out = b""
    for k in range(n):
        out += pkt(flags, dt, rtp(pt, seq0 + k, ts0 + k * step, ssrc,
                                  m0 and k == 0, bytes([0xff]) * size))
    return out


def rtp_seeds():
    for i, p in enumerate(RTPKT):
        write("rtp", "rtpkt-%02d.bin" % i, b"\x00" + pkt(0, 20, p))
    write("rtp", "strict-attacker.bin", b"\x00" + stream(3) +
          stream(5, ssrc=0x6666, flags=1) + stream(3, seq0=103, ts0=8480))
    write("rtp", "nat-learn.bin", b"\x05" + stream(6, flags=1))
    write("rtp", "nat-takeover.bin", b"\x05" + stream(4) +
          stream(4, ssrc=0x6666, flags=1) + stream(4, seq0=104, ts0=8640,
                                                   flags=1))
    write("rtp", "reinvite.bin", b"\x00" + stream(3) +
          pkt(3, 20, rtp(0, 103, 8480, 0x1111)) + stream(2, seq0=104,
                                                         ts0=8640, flags=1))
    write("rtp", "seq-wrap.bin", b"\x00" + stream(6, seq0=65533))


def rtcp_pkt(pt, count, body):
    n = (len(body) + 4) // 4 - 1
    return bytes([0x80 | count, pt]) + struct.pack(">H", n) + body


def rtcp_seeds():
    ssrc_peer, ours = 0x0badcafe, 0x12345678
    rb = struct.pack(">IBBHIIII", ours, 12, 0, 5, 0x10064, 30, 0, 0)
    rb_lsr = struct.pack(">IBBHIIII", ours, 0, 0, 0, 0x10064, 12,
                         0x12345678, 0x8000)
    sr = rtcp_pkt(200, 1, struct.pack(">IQIII", ssrc_peer,
                                      0xe9a0c1a2_80000000, 8000, 50, 8000) +
                  rb)
    rr = rtcp_pkt(201, 1, struct.pack(">I", ssrc_peer) + rb_lsr)
    rr0 = rtcp_pkt(201, 0, struct.pack(">I", ssrc_peer))
    cname = b"b@carrier"
    sdes = rtcp_pkt(202, 1, struct.pack(">IBB", ssrc_peer, 1, len(cname)) +
                    cname + b"\0" * (4 - (6 + len(cname)) % 4))
    bye = rtcp_pkt(203, 1, struct.pack(">I", ssrc_peer) + b"\x03bye")
    app = rtcp_pkt(204, 0, struct.pack(">I", ssrc_peer) + b"name" + b"data")
    xr = rtcp_pkt(207, 0, struct.pack(">I", ssrc_peer) + b"\x04\0\0\x02" +
                  b"\0" * 8)
    media = stream(5, flags=1)
    seeds = {
        "sr-sdes.bin": pkt(2, 20, sr + sdes),
        "rr-sdes.bin": media + pkt(2, 5, rr + sdes),
        "rr-empty.bin": pkt(0, 20, rr0 + sdes),
        "bye.bin": media + pkt(6, 20, rr0 + sdes + bye),
        "app-xr.bin": pkt(2, 20, sr + sdes + app + xr),
        "padding.bin": pkt(2, 20, bytes([0xa0, 201, 0, 2]) +
                           struct.pack(">I", ssrc_peer) + b"\0\0\0\4"),
        "bad-version.bin": pkt(0, 20, bytes([0x40]) + sr[1:]),
        "bad-length.bin": pkt(0, 20, sr[:2] + b"\x00\x30" + sr[4:]),
        "sr-only.bin": pkt(2, 20, sr),
        "rtt-loop.bin": media + pkt(2, 20, sr + sdes) + stream(3, flags=1,
                                                              seq0=105) +
        pkt(2, 40, rr + sdes),
    }
    for name, data in seeds.items():
        write("rtcp", name, data)


def te(code, end, vol, dur):
    return bytes([code, (0x80 if end else 0) | vol]) + struct.pack(">H", dur)


def dtmf_seeds():
    def press(code, seq0, ts, ssrc=0x2222, updates=4, ends=3, dt=20):
        out = b""
        k = 0
        for u in range(1, updates + 1):
            out += pkt(0, dt, rtp(101, seq0 + k, ts, ssrc, u == 1,
                                  te(code, False, 10, 160 * u)))
            k += 1
        for _ in range(ends):
            out += pkt(0, dt, rtp(101, seq0 + k, ts, ssrc, False,
                                  te(code, True, 10, 160 * (updates + 1))))
            k += 1
        return out
    write("dtmf", "press-5.bin", b"\x00" + press(5, 10, 8000))
    write("dtmf", "two-presses.bin", b"\x00" + press(1, 10, 8000) +
          press(11, 17, 9600))
    write("dtmf", "ends-lost.bin", b"\x00" + press(3, 10, 8000, ends=0) +
          pkt(1, 200, b"") + pkt(1, 250, b"") + press(4, 14, 16000))
    write("dtmf", "48k-long.bin", b"\x01" + press(9, 10, 48000, updates=20))
    write("dtmf", "ssrc-change.bin", b"\x00" + press(2, 10, 8000, ends=0) +
          press(2, 10, 8000, ssrc=0x3333))
    write("dtmf", "flash-bad.bin", b"\x00" + pkt(0, 20, rtp(101, 1, 80, 1,
                                                             True,
                                                             te(16, False, 10,
                                                                160))) +
          pkt(0, 20, rtp(101, 2, 80, 1, False, te(1, False, 10, 160)[:3])) +
          pkt(0, 20, rtp(101, 3, 80, 1, False, te(1, False, 10, 160) +
                         te(1, True, 10, 320))))
    write("dtmf", "agent-keys.bin", b"\x00" + pkt(2, 20, b"5\x00\xc8") +
          pkt(2, 250, b"#\x00\x28") + pkt(2, 100, b"x\x00\xc8") +
          pkt(2, 255, b"A\x13\x88"))
    write("dtmf", "retransmit.bin", b"\x06" + press(7, 10, 8000) +
          press(7, 10, 8000))


def jb_seeds():
    def opus_stream(n, toc=0x78, size=60, dt=20, seq0=1, ts0=0, step=960,
                    flags=0):
        out = b""
        for k in range(n):
            out += pkt(flags, dt, rtp(111, seq0 + k, ts0 + k * step, 0x4444,
                                      k == 0, bytes([toc]) + b"\x55" * size))
        return out

    write("jb", "pcmu-clean.bin", b"\x02\x00" + stream(12))
    s = stream(10)
    recs = []
    off = 0
    while off < len(s):
        n = struct.unpack(">H", s[off + 2:off + 4])[0]
        recs.append(s[off:off + 4 + n])
        off += 4 + n
    write("jb", "pcmu-reorder-loss.bin", b"\x02\x00" + recs[0] + recs[2] +
          recs[1] + recs[4] + recs[6] + recs[5] + recs[9])
    write("jb", "pcmu-jitter.bin", b"\x02\x00" + b"".join(
        bytes([r[0], [0, 45, 5, 60, 0, 0, 30, 10, 20, 90][i]]) + r[2:]
        for i, r in enumerate(recs)))
    write("jb", "pcmu-dup-late.bin", b"\x02\x0a" + recs[0] + recs[1] +
          recs[1] + recs[3] + recs[2] + recs[2])
    write("jb", "pcmu-10ms.bin", b"\x00\x00" + stream(10, dt=10, step=80,
                                                      size=80))
    write("jb", "pcmu-ssrc-change.bin", b"\x02\x00" + stream(5) +
          stream(5, ssrc=0x9999, seq0=7000, ts0=123456))
    write("jb", "pcmu-ts-jump.bin", b"\x02\x00" + stream(4) +
          stream(4, seq0=104, ts0=8000 + 160 * 4 + 800000, m0=True))
    write("jb", "pcmu-cn.bin", b"\x02\x00" + stream(3) +
          pkt(0, 20, rtp(13, 103, 8480, 0x1111, False, b"\x40")) +
          stream(3, seq0=104, ts0=9600, m0=True))
    write("jb", "pcmu-dtmf-note.bin", b"\x02\x00" + stream(3) +
          pkt(1, 20, rtp(101, 103, 8480, 0x1111, True, te(1, False, 10, 160))) +
          stream(3, seq0=104, ts0=8640, m0=False))
    write("jb", "opus-20.bin", b"\x03\x00" + opus_stream(10))
    write("jb", "opus-dtx.bin", b"\x03\x00" + opus_stream(3) +
          opus_stream(1, size=0, seq0=4, ts0=2880) +
          opus_stream(3, seq0=5, ts0=2880 + 960 * 8))
    write("jb", "opus-60-multi.bin", b"\x07\x00" + opus_stream(
        6, toc=0x7b, size=8, dt=60, step=2880))
    write("jb", "codec-change.bin", b"\x02\x00" + stream(3) +
          opus_stream(4, seq0=104, ts0=1000, flags=2))
    write("jb", "pcmu-capacity.bin", b"\x02\x05" + b"".join(
        bytes([r[0], 0]) + r[2:] for r in recs))


# --- control socket (tests/unit/api/test_ctl.c) --------------------------

CTL = [
    '{"id":"s","op":"status"}',
    '{"id":"a","op":"agents.put","agent":{"id":"support","url":'
    '"ws://127.0.0.1:9/x","auth_token":"TOPSECRET"}}',
    '{"op":"agents.get","agent":"support"}',
    '{"op":"agents.put","agent":{"id":"sales","url":"ws://127.0.0.1:9/s"}}',
    '{"op":"trunks.put","trunk":{"id":"carrier1","kind":"byoc","outbound":'
    '{"address":"127.0.0.1","auth_username":"u","auth_password":'
    '"PW-SECRET"}}}',
    '{"op":"numbers.put","number":{"number":"+1 (415) 555-1234",'
    '"friendly_name":"Support - US","trunk_id":"carrier1",'
    '"inbound_agent_id":"support"}}',
    '{"op":"numbers.list"}',
    '{"op":"trunks.list"}',
    '{"op":"agents.list"}',
    '{"op":"numbers.get","number":"+14155551234"}',
    '{"op":"agents.delete","agent":"support"}',
    '{"op":"numbers.delete","number":"+14155551234"}',
    '{"op":"trunks.delete","trunk":"carrier1"}',
    '{"op":"calls.list"}',
    '{"op":"calls.recent"}',
    '{"op":"calls.get","call_sid":"CA2"}',
]
CTL_BAD = [
    '{"op":"status","op":"status"}', '{}', '{"op":7}',
    '{"op":"frobnicate"}', '{"op":"agents.list","agent":"x"}',
    '{"op":"status","verbose":true}', '{"op":"calls.get","call_sid":1}',
    '{"op":"agents.get","agent":""}', '{"op":"agents.put","agent":"support"}',
    '{"op":"agents.put","agent":{"id":"x","url":5}}',
    '{"op":"numbers.put","number":{"number":"+1415555","trunk_id":"t"}}',
    '{"op":"st\xff\xfe"}', '[1,2]', 'not json',
]


def ctl_seeds():
    write("ctl", "session.txt", "\n".join(CTL) + "\n")
    write("ctl", "bad-requests.txt", "\r\n".join(CTL_BAD).encode(
        "latin-1") + b"\n\n")
    write("ctl", "agent-full.txt", '{"op":"agents.put","agent":{"id":"bot",'
          '"name":"Bot","url":"wss://bot.example:8443/call?x=1","protocol":'
          '"raw","auth_token":"T","parameters":{"lang":"en","k":"v"},'
          '"audio":{"encoding":"l16","sample_rate":16000}}}\n'
          '{"op":"agents.get","agent":"bot"}\n')
    write("ctl", "trunk-full.txt", '{"op":"trunks.put","trunk":{"id":"t1",'
          '"name":"Carrier","kind":"byoc","media_encryption":"srtp_optional",'
          '"rtp_latching":"nat","inbound":{"allowed_sources":["10.0.0.0/8",'
          '"::1"],"auth_username":"u","auth_password":"p"},"outbound":{'
          '"address":"sip.example.com","port":5061,"transport":"tls",'
          '"headers":{"X-A":"1"}}}}\n{"op":"trunks.get","trunk":"t1"}\n')
    write("ctl", "number-codecs.txt", "\n".join(CTL[1:5]) +
          '\n{"op":"numbers.put","number":{"number":"+442071838750",'
          '"friendly_name":"Sales - UK","trunk_id":"carrier1",'
          '"inbound_agent_id":"support","outbound_agent_id":"sales",'
          '"codecs":["opus","pcma"],"outbound_shareable":true}}\n'
          '{"op":"agents.delete","agent":"sales"}\n')


# --- settings file, state file (tests/unit/config/) ----------------------

def config_seeds():
    # the shipped file without its comment block (under 4 KB)
    with open(os.path.join(HERE, "..", "..", "config",
                           "callbridge.conf"), "rb") as f:
        lines = f.read().split(b"\n")
    write("settings", "callbridge.conf", b"# callbridge.conf\n" + b"\n".join(
        ln for ln in lines if not ln.lstrip().startswith(b"#")))
    write("settings", "all-kinds.conf",
          "   # indented comment\n"
          "sip_listen  udp:0.0.0.0:5070\ttcp:[::1]:5071   udp:[::]:5072\n"
          "rtp_address ::\r\nrtp_advertise 203.0.113.10\n"
          "sip_advertise [2001:db8::5]\nrtp_port_min 1024\n"
          "rtp_port_max 65535\ncontrol_socket run/ctl.sock\n"
          "state_file /abs/state.json\nstate_seed seed dir/demo#1.json\n"
          "log_level debug\nworkers 256\nmax_calls 100000\n"
          "sip_flood_action drop\nsip_ack_timeout_ms 1000\n"
          "agent_connect_timeout_ms 100\nmax_call_duration_s 10\n"
          "rtp_timeout_s 0\njb_min_ms 20\njb_max_ms 20\n"
          "opus_complexity 10\nopus_bitrate 510000\n"
          "account_sid AC0123456789abcdef0123456789abcdef\n")
    for i, t in enumerate([
            "max_calls 5\nfoo 1\n", "max_calls 5\n\nmax_calls 6\n",
            "max_calls 99999999999999\n", "max_calls -1\n",
            "max_calls 500 # calls\n", "rtp_port_max 20000\n"
            "rtp_port_min 20000\n", "jb_min_ms 100\n",
            "sip_listen udp:1.2.3.4\n", "sip_listen tls:[::1]:99999\n",
            "log_level loud\n", "account_sid AC12\n",
            "agent_tls_ca \x01\n", "max_calls\n"]):
        write("settings", "case-%02d.conf" % i, t)

    with open(os.path.join(HERE, "..", "..", "config",
                           "demo-state.json"), "rb") as f:
        write("state", "demo-state.json", f.read())
    ag = ('{"id":"support","name":"Support","url":"ws://127.0.0.1:9000/s",'
          '"auth_token":"TOK","parameters":{"lang":"en"}}')
    ag2 = ('{"id":"sales","url":"wss://sales.example/ws","protocol":"raw",'
           '"audio":{"encoding":"l16","sample_rate":16000}}')
    tr = ('{"id":"carrier1","kind":"byoc","media_encryption":"srtp_optional",'
          '"rtp_latching":"nat","inbound":{"allowed_sources":["127.0.0.0/8"],'
          '"auth_username":"u","auth_password":"INPW"},"outbound":{"address":'
          '"sip.example.com","auth_username":"o","auth_password":"OUTPW",'
          '"headers":{"X-A":"1"}}}')
    nu = ('{"number":"+14155551234","friendly_name":"Support - US",'
          '"trunk_id":"carrier1","inbound_agent_id":"support"}')
    nu2 = ('{"number":"+442071838750","friendly_name":"Sales - UK",'
           '"trunk_id":"carrier1","inbound_agent_id":"support",'
           '"outbound_agent_id":"sales","codecs":["opus"]}')
    write("state", "populated.json", '{"format":2,"agents":[%s,%s],'
          '"trunks":[%s],"numbers":[%s,%s]}' % (ag, ag2, tr, nu, nu2))
    write("state", "format1.json", '{"format":1,"trunks":[{"id":"t",'
          '"kind":"byoc","outbound":{"address":"h","media_encryption":'
          '"srtp_required"}}]}')
    for i, t in enumerate([
            '{"format":1,"agents":[', '{"format":1,"extra":[]}',
            '{"format":1,"agents":{}}',
            '{"format":1,"agents":[%s,{"id":"b"}]}' % ag,
            '{"format":1,"agents":[%s,%s]}' % (ag, ag),
            '{"format":3}', '{"format":"2"}', '[]',
            '{"format":2,"numbers":[%s]}' % nu,
            '{"format":2,"agents":[],"trunks":[%s],"numbers":[%s]}' % (
                tr, nu.replace("+1415", "0044"))]):
        write("state", "case-%02d.json" % i, t)


def main():
    sdp_seeds()
    twilio_seeds()
    ws_seeds()
    agent_raw_seeds()
    rtp_seeds()
    rtcp_seeds()
    dtmf_seeds()
    jb_seeds()
    ctl_seeds()
    config_seeds()
    return 0


if __name__ == "__main__":
    sys.exit(main())
