#!/usr/bin/env python3
"""Self-test of cb-test-agent, driven the way callbridge drives an agent.

  selftest_agent.py --agent PATH/cb-test-agent

Starts the agent on an ephemeral loopback port, connects with the minimal
client of wsclient.py, and checks the scripts, the recordings (read with
tests/integ/agentlog.py), the rejection path, raw and l16 formats, TLS,
--exit-after-conns, and a clean exit on SIGTERM (which, in the sanitizer
build, also means no leak). Every wait is bounded.
"""

import argparse
import base64
import json
import os
import select
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
sys.path.insert(0, os.path.join(HERE, "..", "integ"))
import agentlog  # noqa: E402
import g711  # noqa: E402
import gensig  # noqa: E402
from wsclient import HandshakeError, WsClient, OP_TEXT  # noqa: E402

STREAM = "MZ" + "0123456789abcdef" * 2
CALL = "CA" + "fedcba9876543210" * 2
ACCOUNT = "AC" + "00112233445566778899aabbccddeeff"

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def Agent(binary, workdir, *args):
    """A cb-test-agent on an ephemeral port, recording in a fresh dir."""
    d = tempfile.mkdtemp(prefix="rec", dir=workdir)
    extra = dict(signal=None, tls=None, exit_after=None)
    args = list(args)
    while args:
        opt = args.pop(0)
        if opt == "--signal":
            extra["signal"] = args.pop(0)
        elif opt == "--tls":
            extra["tls"] = (args.pop(0), args.pop(0))
        elif opt == "--exit-after-conns":
            extra["exit_after"] = int(args.pop(0))
    return agentlog.AgentProcess(binary, d, **extra)


def start_msgs(fmt=None, params=None, raw=False):
    fmt = fmt or {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                  "channels": 1}
    connected = {"event": "connected", "protocol": "Call",
                 "version": "1.0.0"}
    start = {"event": "start", "sequenceNumber": "1", "streamSid": STREAM,
             "start": {"streamSid": STREAM, "accountSid": ACCOUNT,
                       "callSid": CALL, "tracks": ["inbound"],
                       "customParameters": params or {"from": "+1555"},
                       "mediaFormat": fmt}}
    if raw:
        connected["protocol"] = "raw"
    return [json.dumps(connected), json.dumps(start)]


class Stream:
    """callbridge's side of one Twilio stream."""

    def __init__(self, ws):
        self.ws, self.seq, self.chunk = ws, 1, 0

    def begin(self, **kw):
        for m in start_msgs(**kw):
            self.ws.send_text(m)

    def media(self, audio, fragments=1):
        self.seq += 1
        self.chunk += 1
        self.ws.send_text(json.dumps({
            "event": "media", "sequenceNumber": str(self.seq),
            "streamSid": STREAM,
            "media": {"track": "inbound", "chunk": str(self.chunk),
                      "timestamp": str(20 * (self.chunk - 1)),
                      "payload": base64.b64encode(audio).decode()}}),
            fragments=fragments)

    def event(self, name, **body):
        self.seq += 1
        m = {"event": name, "sequenceNumber": str(self.seq),
             "streamSid": STREAM}
        m.update(body)
        self.ws.send_text(json.dumps(m))


def recv_until(ws, pred, limit=10000):
    """Messages until pred(kind, data) is true (included)."""
    out = []
    for _ in range(limit):
        kind, data = ws.recv()
        out.append((kind, data))
        if pred(kind, data) or kind == "close":
            return out
    raise AssertionError("no end after %d messages" % limit)


def is_mark(name):
    def pred(kind, data):
        if kind != "text":
            return False
        try:
            m = json.loads(data)
        except ValueError:
            return False
        return isinstance(m, dict) and m.get("event") == "mark" and \
            (m.get("mark") or {}).get("name") == name
    return pred


def media_audio(msgs):
    out = bytearray()
    for kind, data in msgs:
        if kind == "binary":
            out += data
            continue
        if kind != "text":
            continue
        try:
            m = json.loads(data)
        except ValueError:
            continue
        if isinstance(m, dict) and m.get("event") == "media" and \
                isinstance(m.get("media"), dict) and \
                isinstance(m["media"].get("payload"), str):
            try:
                out += base64.b64decode(m["media"]["payload"], validate=True)
            except ValueError:
                pass
    return bytes(out)


def c_div(a, b):
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def upsample(sig, rate, start, n):
    """What the agent renders for l16: linear interpolation of the µ-law
    signal at `rate`, samples start .. start+n."""
    dec = g711.ulaw_decode(sig)
    total = len(sig) * rate // 8000
    out = []
    for k in range(start, start + n):
        k %= total
        num = k * 8000
        i, frac = num // rate, num % rate
        a, b = dec[i], dec[(i + 1) % len(sig)]
        out.append(a + c_div((b - a) * frac, rate))
    return g711.pcm16le(out)


# ---- tests ------------------------------------------------------------

def test_record(ag, sig):
    ws = WsClient.connect(ag.url("/record?x=1&y=two"), headers=[
        ("X-Twilio-Signature", "c2lnbmF0dXJl"),
        ("User-Agent", "callbridge-selftest"), ("Origin", "http://o"),
        ("X-Custom-Thing", "Mixed Case Value"),
        ("X-Dup", "a"), ("X-Dup", "b")])
    st = Stream(ws)
    st.begin(params={"from": "+15551230000", "to": "+14155551234"})
    audio = sig[:160 * 25]
    for i in range(25):
        st.media(audio[i * 160:(i + 1) * 160], fragments=1 + i % 3)
    st.event("dtmf", dtmf={"track": "inbound_track", "digit": "5"})
    st.event("mark", mark={"name": "m1"})
    st.event("stop", stop={"accountSid": ACCOUNT, "callSid": CALL})
    ws.close()
    c = ag.rec.wait_closed(1, where=lambda c: c.query == "x=1&y=two")[0]
    check(c.path == "/record" and c.query == "x=1&y=two",
          "record: path and query %r %r" % (c.path, c.query))
    check(c.target == "/record?x=1&y=two", "record: target verbatim")
    check(c.header("x-twilio-signature") == "c2lnbmF0dXJl",
          "record: X-Twilio-Signature")
    check(("X-Custom-Thing", "Mixed Case Value") in c.headers,
          "record: unknown header verbatim, case kept")
    check(c.header_all("X-Dup") == ["a", "b"], "record: repeated headers")
    check(c.header("Host") == "127.0.0.1:%d" % ag.port, "record: Host")
    check(c.header("User-Agent") == "callbridge-selftest", "User-Agent")
    check(c.headers_complete and c.tls is False, "headers complete, no tls")
    check(c.peer.startswith("127.0.0.1:"), "record: peer")
    check(c.opened and c.closed and c.rejected is None, "record: lifecycle")
    check(c.inbound_audio == audio, "record: .in.raw is the audio sent")
    check(agentlog.media_payload_audio(c) == audio,
          "record: media payloads in the log")
    check(c.event_names() == ["connected", "start"] + ["media"] * 25 +
          ["dtmf", "mark", "stop"], "record: events in order")
    check(c.custom_parameters == {"from": "+15551230000",
                                  "to": "+14155551234"},
          "record: customParameters")
    check(c.dtmf_digits() == ["5"] and c.mark_echoes()[0][1] == "m1",
          "record: dtmf and mark echo")
    check(not c.sent() and c.outbound_audio == b"", "record: sends nothing")
    check(c.peer_close is not None and c.peer_close[0] == 1000,
          "record: the client's close code")
    probs = agentlog.check_twilio_stream(c)
    check(probs == [], "record: well-formed stream has problems %s" % probs)
    ts = [f.t_us for f in c.frames]
    check(ts == sorted(ts) and c.t_upgrade <= ts[0], "times monotonic")
    now = time.monotonic() * 1e6
    check(0 <= now - ts[-1] < 60e6, "t_us is CLOCK_MONOTONIC")


def test_agentlog_checks(ag, sig):
    """check_twilio_stream finds each kind of fault."""
    ws = WsClient.connect(ag.url("/record?t=faults"))
    bad_start = json.loads(start_msgs()[1])
    bad_start["streamSid"] = "MZ123"
    bad_start["start"]["tracks"] = ["inbound", "outbound"]
    del bad_start["start"]["customParameters"]
    ws.send_text(json.dumps({"event": "connected", "protocol": "Call",
                             "version": "1.0.0", "sequenceNumber": "0"}))
    ws.send_text(json.dumps(bad_start))
    for chunk, ts, seq in ((1, "40", "2"), (3, "20", "3"), (4, 60, "5")):
        ws.send_text(json.dumps({
            "event": "media", "sequenceNumber": seq, "streamSid": "MZ123",
            "media": {"track": "inbound", "chunk": str(chunk),
                      "timestamp": ts,
                      "payload": base64.b64encode(sig[:80]).decode()}}))
    ws.close()
    c = ag.rec.wait_closed(1, where=lambda c: c.query == "t=faults")[0]
    probs = " | ".join(agentlog.check_twilio_stream(c))
    for want in ("connected carries a sequenceNumber",
                 "not MZ+32 hex", "tracks", "customParameters",
                 "chunk '3', want \"2\"", "goes back",
                 "timestamp 60 is not a string",
                 "sequenceNumber '5', want \"4\"",
                 "80 payload bytes, want 160", "no stop"):
        check(want in probs, "check_twilio_stream misses %r in %s"
              % (want, probs))


def test_play(ag, sig):
    ws = WsClient.connect(ag.url("/play"))
    Stream(ws).begin()
    msgs = recv_until(ws, is_mark("end"))
    ws.close()
    media = [json.loads(d) for k, d in msgs if k == "text" and
             json.loads(d)["event"] == "media"]
    check(media_audio(msgs) == sig, "play: the whole signal, exactly")
    sizes = [len(base64.b64decode(m["media"]["payload"])) for m in media]
    check(all(s == 800 for s in sizes[:-1]) and 0 < sizes[-1] <= 800,
          "play: 100 ms messages %s" % sizes[:3])
    check(all(m["streamSid"] == STREAM for m in media), "play: streamSid")
    c = ag.rec.wait_closed(1, path="/play")[-1]
    check(c.outbound_audio == sig, "play: .out.raw is what was sent")
    check(c.marks_sent() and c.marks_sent()[-1][1] == "end", "play: mark")


def test_script(ag, sig):
    script = ("/script/wait:100,play:60,mark:a,marknull,clear,dtmf:7:250,"
              "playchunks:100:20,playrand:200:9,garbage,close:4001")
    ws = WsClient.connect(ag.url(script))
    t0 = time.monotonic()
    Stream(ws).begin()
    msgs = recv_until(ws, lambda k, d: False)
    check(msgs[-1] == ("close", (4001, "")), "script: closed with 4001")
    texts = [d for k, d in msgs if k == "text"]
    first = json.loads(texts[0])
    check(len(base64.b64decode(first["media"]["payload"])) == 480 and
          base64.b64decode(first["media"]["payload"]) == sig[:480],
          "script: play:60 is one 480-byte message of the signal")
    check(json.loads(texts[1]) == {"event": "mark", "streamSid": STREAM,
                                   "mark": {"name": "a"}}, "script: mark")
    check(json.loads(texts[2]) == {"event": "mark", "streamSid": STREAM},
          "script: marknull has no mark object")
    check(json.loads(texts[3]) == {"event": "clear", "streamSid": STREAM},
          "script: clear")
    check(json.loads(texts[4]) == {"event": "dtmf", "streamSid": STREAM,
                                   "dtmf": {"digit": "7", "duration": 250}},
          "script: dtmf")
    chunks = [json.loads(t) for t in texts[5:10]]
    check([len(base64.b64decode(m["media"]["payload"])) for m in chunks] ==
          [160] * 5, "script: playchunks:100:20 is 5 x 160 bytes")
    rand = []
    for t in texts[10:]:
        try:
            m = json.loads(t)
        except ValueError:
            break
        if m.get("event") != "media" or m.get("streamSid") != STREAM:
            break
        rand.append(base64.b64decode(m["media"]["payload"]))
    check(sum(map(len, rand)) == 1600 and len(set(map(len, rand))) > 1,
          "script: playrand:200 is 1600 bytes in random sizes %s"
          % [len(r) for r in rand])
    check(media_audio(msgs[:5 + 5 + 1 + len(rand) + 4]) ==
          sig[:480 + 800 + 1600], "script: the signal continues in order")
    garbage = texts[10 + len(rand):]
    check(garbage[0] == "this is not JSON {" and len(garbage) == 9,
          "script: garbage text frames %r" % garbage[:2])
    check(("binary", b"\x01\x02\x03") in msgs, "script: odd binary frame")
    ws.sock.close()
    c = ag.rec.wait_closed(1, path=script)[-1]
    check(c.agent_close == 4001, "script: close recorded")
    start_rx = c.events("rx", "start")[0].t_us
    first_tx = c.sent()[0].t_us
    check(first_tx - start_rx >= 100000, "script: wait:100 waited")
    check(time.monotonic() - t0 >= 0.1, "script: took at least the wait")


def test_waitmark(ag, sig):
    ws = WsClient.connect(ag.url("/script/play:40,mark:m1,waitmark:m1,"
                                 "mark:after"))
    st = Stream(ws)
    st.begin()
    msgs = recv_until(ws, is_mark("m1"))
    check(len(media_audio(msgs)) == 320, "waitmark: audio before the mark")
    ws.sock.settimeout(0.3)
    try:
        ws.recv()
        check(False, "waitmark: nothing may come before the echo")
    except socket.timeout:
        pass
    ws.sock.settimeout(10)
    st.event("mark", mark={"name": "m1"})
    msgs = recv_until(ws, is_mark("after"))
    check(len(msgs) == 1, "waitmark: resumed after the echo")
    ws.close()

    ws = WsClient.connect(ag.url("/script/waitmark:never:200,mark:t"))
    Stream(ws).begin()
    msgs = recv_until(ws, is_mark("t"))
    ws.close()
    c = ag.rec.wait_closed(1, path="/script/waitmark:never:200,mark:t")[-1]
    check("waitmark never timed out" in c.notes, "waitmark: timeout noted")


def push_until_full(sock, frame, deadline, slack):
    """Send frame (bytes) again and again on sock, not blocking, until
    the socket refuses more and then, once full, takes more than slack
    bytes [B], or until deadline [monotonic s]; the frame under way is then
    completed (10 s at most) so that the stream stays whole. Returns
    (bytes taken, t_full, t_free): when the socket first refused more, when
    it had taken slack bytes more since [monotonic s], None if never. The
    send buffer is set to a fixed size first: one that grows by itself
    (Linux's autotuning, up to tcp_wmem's maximum) takes bytes again with
    nobody reading."""
    view = memoryview(frame)
    taken, off, t_full, t_free, at_full = 0, 0, None, None, 0
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
    sock.setblocking(False)
    for _ in range(1 << 20):
        now = time.monotonic()
        if now >= deadline or (off == 0 and t_free is not None):
            break
        try:
            n = sock.send(view[off:])
        except BlockingIOError:
            if t_full is None:
                t_full, at_full = now, taken
            select.select([], [sock], [], min(0.05, deadline - now))
            continue
        taken += n
        off = (off + n) % len(view)
        if t_full is not None and t_free is None and \
                taken - at_full > slack:
            t_free = now
    sock.settimeout(10.0)
    try:
        if off:
            sock.sendall(view[off:])
    except OSError:
        pass
    return taken, t_full, t_free


def test_failures(ag, sig):
    """drop, stall and /hang: an agent that fails, stops reading, or
    never answers."""
    ws = WsClient.connect(ag.url("/script/play:20,drop"))
    Stream(ws).begin()
    kind, data = ws.recv()
    check(kind == "text" and json.loads(data)["event"] == "media",
          "drop: media first")
    try:
        kind, data = ws.recv()
        check(False, "drop: got %s instead of a reset" % kind)
    except (ConnectionError, OSError):
        pass
    ws.sock.close()
    c = ag.rec.wait_closed(1, path="/script/play:20,drop")[0]
    check(any(r["ev"] == "drop" for r in c.records) and
          c.agent_close is None, "drop: recorded, no close frame")

    path = "/script/play:20,mark:s,stall:1500,mark:t"
    ws = WsClient.connect(ag.url(path))
    Stream(ws).begin()
    msgs = recv_until(ws, is_mark("s"))
    check(len(media_audio(msgs)) == 160, "stall: audio before the stall")
    blob = json.dumps({"event": "media", "media": {
        "payload": base64.b64encode(b"\0" * 600000).decode()}})
    # lws may still make one read of its rx buffer (64 KB, cb-agent's
    # rx_buffer_size) after the stall began: allow twice that
    taken, t_full, t_free = push_until_full(
        ws.sock, WsClient.frame(OP_TEXT, blob), time.monotonic() + 5.0,
        128 * 1024)
    ws.close()                  # the agent has read all of it after this
    c = ag.rec.wait_closed(1, path=path)[0]
    st = next(r for r in c.records if r["ev"] == "stall")
    t_end = (st["t_us"] + st["ms"] * 1000) / 1e6     # the stall's end [s]
    check(st["ms"] == 1500, "stall: recorded 1500 ms")
    # the socket fills only when the agent does not read, and once full
    # it takes bytes again only when the agent reads: on any host, the
    # stall is the span from the socket full to the socket taking bytes
    # (the sender, a mask and a send of one prepared frame, is fast enough
    # to fill it in a few ms on a loaded host)
    check(t_full is not None and t_full < t_end,
          "stall: the socket was not full before the stall ended "
          "(%.1f MB taken)" % (taken / 1e6))
    check(t_full is None or (t_free is not None and t_free >= t_end),
          "stall: the agent never read again" if t_free is None else
          "stall: the agent read %.0f ms into its 1500 ms stall" %
          ((t_free - t_end) * 1e3 + 1500))
    later = [f for f in c.received() if f.t_us > st["t_us"]]
    check(later and all(f.t_us >= st["t_us"] + 1500000 for f in later),
          "stall: nothing read during the stall, all of it after")

    s = socket.create_connection(("127.0.0.1", ag.port), timeout=10)
    s.sendall(b"GET /hang?n=1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    s.settimeout(0.5)
    try:
        check(s.recv(100) == b"x", "hang: answered")
    except socket.timeout:
        pass
    s.close()
    c = ag.rec.wait_closed(1, path="/hang")[0]
    check(c.query == "n=1" and not c.opened and c.rejected is None and
          any("hanging" in n for n in c.notes), "hang: recorded")


def test_echo(ag, sig):
    ws = WsClient.connect(ag.url("/echo"))
    st = Stream(ws)
    st.begin()
    got = bytearray()
    for i in range(10):
        st.media(sig[i * 160:(i + 1) * 160])
        kind, data = ws.recv()
        m = json.loads(data)
        check(m["event"] == "media" and m["streamSid"] == STREAM,
              "echo: a media message back")
        got += base64.b64decode(m["media"]["payload"])
    ws.close()
    check(bytes(got) == sig[:1600], "echo: the payloads come back")
    c = ag.rec.wait_closed(1, path="/echo")[-1]
    check(c.inbound_audio == c.outbound_audio == sig[:1600],
          "echo: in.raw == out.raw")


def test_reject(ag, sig):
    for path, status in (("/reject/503", 503), ("/reject/404", 404),
                         ("/reject/99", 400), ("/script/bogus:1", 400),
                         ("/script/play:1:2:3", 400),
                         ("/script/mark:bad name", 400),
                         ("/script/close:1005", 400),
                         ("/nothing/here", 400)):
        try:
            WsClient.connect(ag.url(path.replace(" ", "%20")))
            check(False, "reject: %s was accepted" % path)
        except HandshakeError as e:
            check(e.status == status, "reject: %s gave %d, want %d"
                  % (path, e.status, status))
    c = ag.rec.wait_closed(1, path="/reject/503")[-1]
    check(c.rejected == 503 and not c.opened, "reject: recorded")
    c = ag.rec.wait_closed(1, path="/script/bogus:1")[-1]
    check(c.rejected == 400 and any("bogus" in n for n in c.notes),
          "reject: the reason is noted")


def test_l16(ag, sig):
    for rate in (8000, 16000, 24000, 48000):
        path = "/script/play:20,playchunks:40:20,mark:x"
        ws = WsClient.connect(ag.url(path))
        Stream(ws).begin(fmt={"encoding": "audio/l16", "sampleRate": rate,
                              "channels": 1})
        msgs = recv_until(ws, is_mark("x"))
        ws.close()
        n = rate // 50
        want = upsample(sig, rate, 0, 3 * n)
        check(media_audio(msgs) == want,
              "l16 %d: upsampled signal by linear interpolation" % rate)
        sizes = [len(base64.b64decode(json.loads(d)["media"]["payload"]))
                 for k, d in msgs[:-1]]
        check(sizes == [2 * n] * 3, "l16 %d: 20 ms messages %s"
              % (rate, sizes))
    c = ag.rec.wait_closed(4, path=path)[-1]
    check(len(c.outbound_audio) == 3 * 960 * 2, "l16: out.raw at 48 kHz")


def test_raw(ag, sig):
    ws = WsClient.connect(ag.url("/raw/script/play:60,mark:r,echo"))
    Stream(ws).begin(fmt={"encoding": "audio/l16", "sampleRate": 16000,
                          "channels": 1})
    msgs = recv_until(ws, is_mark("r"))
    bins = [d for k, d in msgs if k == "binary"]
    check([len(b) for b in bins] == [640] * 3,
          "raw: 20 ms binary frames %s" % [len(b) for b in bins])
    check(b"".join(bins) == upsample(sig, 16000, 0, 960),
          "raw: the signal as PCM")
    pcm = bytes(range(200)) * 3 + b"\x00" * 40
    ws.send_binary(pcm, fragments=3)
    kind, data = ws.recv()
    check((kind, data) == ("binary", pcm), "raw: echo of a binary frame")
    ws.send_binary(b"\0" * 100)
    check(ws.recv() == ("binary", b"\0" * 100), "raw: echo again")
    ws.close()
    c = ag.rec.wait_closed(1, path="/raw/script/play:60,mark:r,echo")[-1]
    check(c.inbound_audio == pcm + b"\0" * 100, "raw: in.raw holds the PCM")
    probs = " | ".join(agentlog.check_raw_stream(c, 16000))
    check("binary frames of [100, 640] bytes, want 640" in probs and
          "no stop" in probs, "check_raw_stream: finds faults: %s" % probs)

    # a well-formed raw stream as callbridge sends it: no connected
    ws = WsClient.connect(ag.url("/raw/record?t=rawok"))
    ws.send_text(start_msgs(fmt={"encoding": "audio/l16",
                                 "sampleRate": 16000, "channels": 1})[1])
    for i in range(5):
        ws.send_binary(bytes([i]) * 640)
    ws.send_text(json.dumps({"event": "mark", "streamSid": STREAM,
                             "mark": {"name": "x"}}))
    ws.send_text(json.dumps({"event": "stop", "streamSid": STREAM,
                             "stop": {}}))
    ws.close()
    c = ag.rec.wait_closed(1, where=lambda c: c.query == "t=rawok")[0]
    probs = agentlog.check_raw_stream(c, 16000)
    check(probs == [], "check_raw_stream: well-formed has %s" % probs)
    check(len(c.inbound_audio) == 3200, "raw: 5 frames recorded")

    # detected from "protocol": "raw" in connected, without the prefix
    ws = WsClient.connect(ag.url("/script/play:20,mark:q"))
    Stream(ws).begin(raw=True)
    msgs = recv_until(ws, is_mark("q"))
    ws.close()
    check([k for k, _ in msgs] == ["binary", "text"] and
          len(msgs[0][1]) == 320, "raw: detected from connected.protocol")

    # detected from a binary frame
    ws = WsClient.connect(ag.url("/echo"))
    Stream(ws).begin()
    ws.send_binary(b"\x01\x00\x02\x00")
    check(ws.recv() == ("binary", b"\x01\x00\x02\x00"),
          "raw: switched on a binary frame")
    ws.close()


def test_bad_input(ag, sig):
    ws = WsClient.connect(ag.url("/record?t=bad"))
    st = Stream(ws)
    st.begin()
    ws.send_text("not json")
    ws.send_frame(OP_TEXT, b"\xff\xfe invalid utf-8")
    ws.send_text(json.dumps({"event": "media", "media": {"payload": "@@"}}))
    ws.send_text(json.dumps({"event": "media", "media": {"payload": 5}}))
    ws.send_text(json.dumps({"noevent": 1}))
    ws.send_text(json.dumps({"event": "whatever", "x": [1, 2]}))
    ws.send_text(json.dumps({"event": "start"}))
    big = sig * 4
    st.media(big, fragments=16)                 # 128 KB, 16 fragments
    ws.send_close(1001, "bye")
    recv_until(ws, lambda k, d: False)
    ws.sock.close()
    c = ag.rec.wait_closed(1, where=lambda c: c.query == "t=bad")[0]
    notes = " | ".join(c.notes)
    for want in ("not JSON", "not valid base64", "without a string payload",
                 "without an event", "second start"):
        check(want in notes, "bad input: note %r missing in %s"
              % (want, notes))
    t = [f for f in c.received() if f.kind == "text" and f.text is None]
    check(len(t) == 1 and t[0].data == b"\xff\xfe invalid utf-8" and
          t[0].rec.get("utf8") is False, "bad input: non-UTF-8 text kept")
    check(c.inbound_audio == big, "bad input: large fragmented message")
    check(c.peer_close == (1001, "bye"), "bad input: peer close code")

    # a request head that never ends, and one that is too large
    s = socket.create_connection(("127.0.0.1", ag.port), timeout=10)
    s.sendall(b"GET /record HTTP/1.1\r\nHost: x\r\n" +
              b"X-Big: " + b"a" * 20000 + b"\r\n\r\n")
    try:
        check(s.recv(100) == b"", "bad input: oversized head: closed")
    except ConnectionResetError:
        pass
    s.close()

    # a head sent byte by byte still works
    s = socket.create_connection(("127.0.0.1", ag.port), timeout=10)
    head = (b"GET /echo HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    for i in range(0, len(head), 7):
        s.sendall(head[i:i + 7])
        time.sleep(0.002)
    resp = s.recv(4096)
    check(resp.startswith(b"HTTP/1.1 101"), "slow head: upgraded %r"
          % resp[:40])
    check(b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in resp, "slow head: accept key")
    s.close()

    # plain HTTP: a readiness probe
    s = socket.create_connection(("127.0.0.1", ag.port), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    check(s.recv(100).startswith(b"HTTP/1.1 200"), "probe: 200")
    s.close()


def test_concurrent(ag, sig):
    n = 12
    results = [None] * n

    def one(i):
        try:
            ws = WsClient.connect(ag.url("/script/playchunks:%d:20,mark:e%d"
                                         % (200 + 20 * i, i)))
            Stream(ws).begin()
            msgs = recv_until(ws, is_mark("e%d" % i))
            ws.close()
            results[i] = media_audio(msgs)
        except Exception as e:          # reported below
            results[i] = e

    th = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in th:
        t.start()
    for t in th:
        t.join(timeout=30)
    for i, r in enumerate(results):
        check(r == sig[:(200 + 20 * i) * 8],
              "concurrent %d: own audio (%r)" % (i, type(r)))
    names = [c.name for c in ag.rec.conns()]
    check(len(names) == len(set(names)), "concurrent: unique names")


def make_cert(tmp):
    if not shutil.which("openssl"):
        return None
    cert, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-subj", "/CN=localhost", "-days", "2",
                        "-keyout", key, "-out", cert],
                       capture_output=True, timeout=60)
    return (cert, key) if r.returncode == 0 else None


def test_tls(binary, tmp, sigfile, sig):
    ck = make_cert(tmp)
    if not ck:
        print("openssl missing: TLS test skipped")
        return
    ag = Agent(binary, tmp, "--signal", sigfile, "--tls", ck[0], ck[1])
    try:
        ctx = ssl.create_default_context(cafile=ck[0])
        ctx.check_hostname = False
        ws = WsClient.connect(ag.url("/play?k=v", "wss"), ssl_context=ctx,
                              headers={"X-Twilio-Signature": "abc="})
        Stream(ws).begin()
        msgs = recv_until(ws, is_mark("end"))
        ws.close()
        check(media_audio(msgs) == sig, "tls: the signal over wss")
        c = ag.rec.wait_closed(1)[0]
        check(c.tls is True and c.path == "/play", "tls: recorded")
        check(c.header("x-twilio-signature") == "abc=" and
              c.header("host"), "tls: headers from lws")
        check(c.query == "k=v", "tls: query")
        try:
            WsClient.connect(ag.url("/reject/401", "wss"), ssl_context=ctx)
            check(False, "tls: reject accepted")
        except HandshakeError as e:
            check(e.status == 401, "tls: reject status")
    finally:
        rc = ag.stop()
        check(rc == 0, "tls agent exit status %r: %s"
              % (rc, ag.stderr[-2000:]))


def test_exit_after(binary, tmp):
    ag = Agent(binary, tmp, "--exit-after-conns", "2")
    for path in ("/record", "/reject/500"):
        try:
            WsClient.connect(ag.url(path)).close()
        except HandshakeError:
            pass
    try:
        rc = ag.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        rc = "still running"
    ag.stop()
    check(rc == 0, "--exit-after-conns 2: exit status %r" % rc)


def test_options(binary, tmp):
    for args, want in ((["--port", "70000"], 2), (["--bogus"], 2),
                       (["--signal", os.path.join(tmp, "nope")], 1),
                       (["--tls", os.path.join(tmp, "nope"),
                         os.path.join(tmp, "nope")], 1),
                       (["--addr", "not-an-ip"], 1),
                       (["--exit-after-conns", "0"], 2)):
        r = subprocess.run([binary, "--dir", os.path.join(tmp, "o")] + args,
                           capture_output=True, timeout=30)
        check(r.returncode == want, "options %s: exit %d, want %d (%s)"
              % (args, r.returncode, want, r.stderr.decode()[-300:]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent", required=True)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="cb-agent-")
    sig = gensig.generate("frames", "ulaw", 2.0, seed=42)
    sigfile = os.path.join(tmp, "sig.ul")
    with open(sigfile, "wb") as f:
        f.write(sig)
    ag = Agent(a.agent, tmp, "--signal", sigfile)
    try:
        for t in (test_record, test_agentlog_checks, test_play, test_script,
                  test_waitmark, test_failures, test_echo, test_reject, test_l16, test_raw,
                  test_bad_input, test_concurrent):
            try:
                t(ag, sig)
            except Exception as e:
                check(False, "%s raised %r" % (t.__name__, e))
        # SIGTERM with a connection open: clean exit, recording complete
        ws = WsClient.connect(ag.url("/script/wait:60000"))
        Stream(ws).begin()
        ag.rec.wait_event(lambda c, f: c.path == "/script/wait:60000" and
                          f.event == "start")
    finally:
        rc = ag.stop()
    check(rc == 0, "agent exit status on SIGTERM %r: %s"
          % (rc, ag.stderr[-3000:]))
    c = ag.rec.conns(path="/script/wait:60000")
    check(c and c[0].closed, "SIGTERM: the open connection's log is closed")
    ws.sock.close()
    for t in (lambda: test_tls(a.agent, tmp, sigfile, sig),
              lambda: test_exit_after(a.agent, tmp),
              lambda: test_options(a.agent, tmp)):
        try:
            t()
        except Exception as e:
            check(False, "raised %r" % e)
    if not failures:
        shutil.rmtree(tmp, ignore_errors=True)
        print("all checks passed")
        return 0
    print("%d check(s) failed; files in %s" % (len(failures), tmp),
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
