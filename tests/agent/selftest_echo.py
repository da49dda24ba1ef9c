#!/usr/bin/env python3
"""Smoke test of the example echo-agent, driven as callbridge drives it.

  selftest_echo.py --echo PATH/echo-agent

For µ-law, l16 at 16 kHz and protocol raw: send audio, get exactly that
audio back followed by a mark "reply-<n>"; concurrent calls get their own
audio; bad input does not end the call; a too large message is refused
with 1009; SIGTERM and SIGINT end the process cleanly (exit 0, which in
the sanitizer build also means no leak). Every wait is bounded.
"""

import argparse
import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import gensig  # noqa: E402
from wsclient import WsClient  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


class Echo:
    def __init__(self, binary, *args):
        self.proc = subprocess.Popen([binary, "--port", "0"] + list(args),
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        m = re.search(r"listening on ws://[^:]+:(\d+)/", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("no listening line: %r" % line)
        self.port = int(m.group(1))
        self.stderr = b""
        self._t = threading.Thread(target=self._drain, daemon=True)
        self._t.start()

    def _drain(self):
        self.stderr = self.proc.stderr.read()

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = "killed"
        self._t.join(timeout=5)
        self.proc.stdout.close()
        return rc


def call(port, sid, fmt, audio, frame, raw=False, fragments=1):
    """Send audio in frames, collect replies until all of it came back.
    Returns (audio back, [(kind, reply message)], ws)."""
    ws = WsClient.connect("ws://127.0.0.1:%d/" % port)
    connected = {"event": "connected", "protocol": "raw" if raw else "Call",
                 "version": "1.0.0"}
    ws.send_text(json.dumps(connected))
    ws.send_text(json.dumps({
        "event": "start", "sequenceNumber": "1", "streamSid": sid,
        "start": {"streamSid": sid, "accountSid": "AC" + "0" * 32,
                  "callSid": "CA" + "0" * 32, "tracks": ["inbound"],
                  "customParameters": {"to": "+14155551234"},
                  "mediaFormat": fmt}}))
    for i in range(0, len(audio), frame):
        chunk = audio[i:i + frame]
        if raw:
            ws.send_binary(chunk, fragments=fragments)
        else:
            ws.send_text(json.dumps({
                "event": "media", "streamSid": sid,
                "media": {"track": "inbound", "chunk": str(i // frame + 1),
                          "timestamp": str(i // frame * 20),
                          "payload": base64.b64encode(chunk).decode()}}),
                fragments=fragments)
    back, msgs = bytearray(), []
    for _ in range(100000):
        kind, data = ws.recv()
        if kind == "close":
            break
        if kind == "binary":
            back += data
            msgs.append(("binary", data))
            continue
        m = json.loads(data)
        msgs.append(("text", m))
        if m["event"] == "media":
            back += base64.b64decode(m["media"]["payload"])
        if m["event"] == "mark" and len(back) >= len(audio):
            break
    return bytes(back), msgs, ws


def check_replies(name, sid, msgs, audio, back, max_payload):
    check(back == audio, "%s: the audio comes back exactly (%d of %d)"
          % (name, len(back), len(audio)))
    marks = [m for k, m in msgs if k == "text" and m["event"] == "mark"]
    check(marks and [m["mark"]["name"] for m in marks] ==
          ["reply-%d" % (i + 1) for i in range(len(marks))],
          "%s: marks reply-1.. %s" % (name, marks[:3]))
    check(all(m["streamSid"] == sid for k, m in msgs if k == "text"),
          "%s: streamSid on every message" % name)
    check(msgs[-1][0] == "text" and msgs[-1][1]["event"] == "mark",
          "%s: a mark after the reply audio" % name)
    sizes = [len(m) if k == "binary" else
             len(base64.b64decode(m["media"]["payload"]))
             for k, m in msgs if k == "binary" or m["event"] == "media"]
    check(sizes and max(sizes) <= max_payload,
          "%s: reply messages of at most %d bytes: %s"
          % (name, max_payload, sizes[:5]))
    return marks


def test_mulaw(port, sig):
    sid = "MZ" + "a" * 32
    audio = sig[:8000]                                  # 1 s
    back, msgs, ws = call(port, sid, {"encoding": "audio/x-mulaw",
                                      "sampleRate": 8000, "channels": 1},
                          audio, 160, fragments=2)
    marks = check_replies("mulaw", sid, msgs, audio, back, 1600)
    for m in marks:                                     # play them
        ws.send_text(json.dumps({"event": "mark", "streamSid": sid,
                                 "mark": {"name": m["mark"]["name"]}}))
    ws.send_text(json.dumps({"event": "dtmf", "streamSid": sid,
                             "dtmf": {"track": "inbound_track",
                                      "digit": "5"}}))
    ws.send_text(json.dumps({"event": "stop", "streamSid": sid,
                             "stop": {}}))
    ws.close()


def test_l16(port, sig):
    sid = "MZ" + "b" * 32
    audio = gensig.generate("frames", "l16", 0.5, rate=16000, seed=3)
    back, msgs, ws = call(port, sid, {"encoding": "audio/l16",
                                      "sampleRate": 16000, "channels": 1},
                          audio, 640)
    check_replies("l16", sid, msgs, audio, back, 6400)
    sizes = [len(base64.b64decode(m["media"]["payload"]))
             for k, m in msgs if k == "text" and m["event"] == "media"]
    check(all(s % 2 == 0 for s in sizes), "l16: whole samples")
    ws.close()


def test_raw(port, sig):
    sid = "MZ" + "c" * 32
    audio = gensig.generate("frames", "l16", 0.5, rate=8000, seed=4)
    back, msgs, ws = call(port, sid, {"encoding": "audio/l16",
                                      "sampleRate": 8000, "channels": 1},
                          audio, 320, raw=True, fragments=2)
    check_replies("raw", sid, msgs, audio, back, 320)
    check(all(len(m) == 320 for k, m in msgs if k == "binary"),
          "raw: 20 ms binary frames")
    check(not any(k == "text" and m["event"] == "media" for k, m in msgs),
          "raw: no media JSON")
    ws.close()


def test_concurrent(port, sig):
    n = 16
    res = [None] * n

    def one(i):
        sid = "MZ%032x" % i
        audio = sig[i * 800:(i + 1) * 800 + 1600]
        try:
            back, msgs, ws = call(port, sid, {"encoding": "audio/x-mulaw",
                                              "sampleRate": 8000,
                                              "channels": 1}, audio, 160)
            ws.close()
            res[i] = (back == audio, all(m.get("streamSid") == sid
                                         for k, m in msgs if k == "text"))
        except Exception as e:
            res[i] = e
    th = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in th:
        t.start()
    for t in th:
        t.join(timeout=60)
    check(all(r == (True, True) for r in res),
          "concurrent: each call gets its own audio back: %s" % res)


def test_bad_input(port, sig):
    sid = "MZ" + "d" * 32
    ws = WsClient.connect("ws://127.0.0.1:%d/" % port)
    for junk in ("not json", "[]", "{\"event\": 5}", "{\"event\":\"media\"}",
                 "{\"event\":\"media\",\"media\":{\"payload\":\"@@@\"}}",
                 "{\"event\":\"start\",\"start\":{\"mediaFormat\":"
                 "{\"sampleRate\":\"fast\"}}}",
                 "{\"event\":\"surprise\",\"x\":{}}"):
        ws.send_text(junk)
    ws.send_text(json.dumps({"event": "start", "streamSid": sid,
                             "start": {"streamSid": sid}}))
    audio = sig[:1600]
    for i in range(0, 1600, 160):
        ws.send_text(json.dumps({"event": "media", "streamSid": sid,
                                 "media": {"payload": base64.b64encode(
                                     audio[i:i + 160]).decode()}}))
    back = bytearray()
    for _ in range(1000):
        kind, data = ws.recv()
        m = json.loads(data)
        if m["event"] == "media":
            back += base64.b64decode(m["media"]["payload"])
        if m["event"] == "mark" and len(back) >= 1600:
            break
    check(back[-1600:] == audio, "bad input: the call goes on")
    # a message above the limit is refused with 1009
    ws.send_binary(b"\0" * (5 << 20), fragments=5)
    kind, data = ws.recv()
    while kind != "close":
        kind, data = ws.recv()
    check(data[0] == 1009, "too large: close 1009, got %r" % (data,))
    ws.sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--echo", required=True)
    a = ap.parse_args()
    sig = gensig.generate("frames", "ulaw", 4.0, seed=9)

    ag = Echo(a.echo, "--delay-ms", "200")
    try:
        for t in (test_mulaw, test_l16, test_raw, test_concurrent,
                  test_bad_input):
            try:
                t(ag.port, sig)
            except Exception as e:
                check(False, "%s raised %r" % (t.__name__, e))
        ws = WsClient.connect("ws://127.0.0.1:%d/" % ag.port)  # left open
    finally:
        rc = ag.stop(signal.SIGTERM)
    log = ag.stderr.decode(errors="replace")
    check(rc == 0, "exit status on SIGTERM %r: %s" % (rc, log[-3000:]))
    check("mark reply-1: played" in log, "logs the mark echoes")
    check("caller pressed 5" in log, "logs DTMF")
    check("stopped" in log, "logs its clean stop")
    ws.sock.close()

    ag = Echo(a.echo)
    rc = ag.stop(signal.SIGINT)
    check(rc == 0, "exit status on SIGINT %r" % rc)

    for args in (["--delay-ms", "5"], ["--port", "x"], ["extra"]):
        r = subprocess.run([a.echo] + args, capture_output=True, timeout=30)
        check(r.returncode == 2, "options %s: exit %d" % (args, r.returncode))

    if failures:
        print("%d check(s) failed" % len(failures), file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
