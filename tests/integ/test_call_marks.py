#!/usr/bin/env python3
"""Issue 3, what the agent sends back: marks, clear and junk, checked
against the RTP the gateway sends to the carrier (SIPp), recorded on
loopback with kernel receive times.

  - a mark comes back after the audio queued before it has been sent, and
    before the audio queued after it; with nothing queued, at once;
  - `clear` stops the agent's audio at once (the stream goes on with
    silence at 50 packets/s), echoes every pending mark at once, and audio
    sent after it plays again;
  - a mark with no `mark` object is tolerated (and echoed, as the OpenAI
    demo counts echoes); garbage frames (cb-test-agent's `garbage`),
    unknown events, pings and binary frames are ignored: the call goes on,
    later audio and marks work, nothing hangs up;
  - a media payload that is not base64 plays nothing.

Times: cb-test-agent records CLOCK_MONOTONIC; the sniffer's kernel times
are converted to the same clock. A mark is released in the same 20 ms
tick that sends its last frame, so the tolerance on either side is one
frame plus 5 ms; the failures this catches are hundreds of ms off (an echo
at once, or after all the audio) or missing.
"""

import base64

import agentlog
import callenv
import cbtest
import g711
import gensig
import rtpsniff

NUMBER = "+14155550301"
FRAME = 0.020
TOL = FRAME + 0.005


def pcm_frames(seconds, seed):
    """Agent audio as 16-bit PCM whose µ-law form is known exactly:
    (µ-law bytes, PCM bytes, {160-byte µ-law frame: its index}), so the
    frames the caller hears (PCMU) can be told apart and put in order."""
    import struct
    media = gensig.generate("frames", "ulaw", seconds, seed=seed)
    # µ-law -> linear -> µ-law is exact but for the two zeros
    canon = g711.ulaw_encode(g711.ulaw_decode(media))
    pcm = struct.pack("<%dh" % len(canon), *g711.ulaw_decode(canon))
    idx = {canon[k:k + 160]: k // 160 for k in range(0, len(canon), 160)}
    return canon, pcm, idx


class MarksTest(callenv.NothingLeft, callenv.CallTestCase):

    @classmethod
    def setUpClass(cls):
        callenv.require_sipp(pcap=True)
        cls.env = callenv.CallEnv(agent_seconds=4.0)
        sig = cls.env.agent_signals[0]
        cls.index = {sig[k:k + 160]: k // 160
                     for k in range(0, len(sig), 160)}
        cls.pyagents = []

    @classmethod
    def tearDownClass(cls):
        try:
            cls.env.close()
        finally:
            for ag in cls.pyagents:
                ag.close()

    def call(self, path, hold, name, url=None, agent_id=None):
        """One PCMU call whose agent URL path is `path` (cb-test-agent) or
        `url`; returns (SIPp result, RTP packets with the agent-signal
        frame index of each (None: not agent audio), agent connection)."""
        env = self.env
        if agent_id:
            pass                    # made by the caller (and its number)
        elif url:
            env.request("agents.put", agent={"id": "agent", "url": url})
        else:
            env.agent("agent", path)
        if not agent_id:
            env.number(NUMBER, "agent")
        n = len(env.agents[0].rec.conns())
        before = {c["call_sid"] for c in env.recent()}
        w = env.workdir(name)
        env.pcap(w, "ulaw", 0.5, seed=41)
        host = "127.0.0.1:%d" % env.gw.sip_port
        run = env.sipp("uac_call.xml", w, keys={
            "ruri": "sip:%s@%s" % (NUMBER, host),
            "to_uri": "sip:%s@%s" % (NUMBER, host), "fmt": "0 101",
            "dir": "sendrecv", "ctype": "application/sdp",
            "xhdr_a": "a", "xhdr_b": "b"}, sets={"hold": hold})
        with rtpsniff.Sniffer(run.media_port) as sn:
            res = run.run()
            env.wait_idle()
        self.assertEqual(res.rc, 0, res.summary())
        self.assertEqual(res.final("BYE"), 200, "the caller hung up, "
                         "not the gateway: " + res.summary())
        new = [c for c in env.recent() if c["call_sid"] not in before]
        self.assertEqual([c["end_reason"] for c in new], ["caller-bye"])
        pk = sn.rtp()
        self.assertEqual(rtpsniff.rtp_report(pk).problems(pt=0), [])
        self.payloads = [p.rtp["payload"] for p in pk]
        self.packets = [(p.t, p.rtp["payload"]) for p in pk]
        frames = [(p.t, self.index.get(p.rtp["payload"])) for p in pk]
        conn = None
        if not url:
            names = {c.name for c in env.agents[0].rec.conns()[:n]}
            conn = env.agents[0].rec.wait_closed(
                1, where=lambda c: c.name not in names)[0]
            self.assertEqual(agentlog.check_twilio_stream(conn), [])
        return res, frames, conn, new[0]

    @staticmethod
    def played(frames, lo, hi):
        """(t, index) of the packets carrying agent frames lo..hi-1."""
        return [(t, i) for t, i in frames if i is not None and lo <= i < hi]

    def assert_run(self, got, lo, hi):
        self.assertEqual([i for _, i in got], list(range(lo, hi)),
                         "frames %d..%d, once each, in order" % (lo, hi - 1))

    def echoes(self, conn):
        return [(t / 1e6, n) for t, n in conn.mark_echoes()]

    # -- tests -------------------------------------------------------------

    def test_01_marks_after_their_audio(self):
        res, frames, conn, call = self.call(
            "/script/play:1000,mark:m1,play:600,mark:m2,wait:3000", 2400,
            "marks")
        first = self.played(frames, 0, 50)
        second = self.played(frames, 50, 80)
        self.assert_run(first, 0, 50)
        self.assert_run(second, 50, 80)
        ech = self.echoes(conn)
        self.assertEqual([n for _, n in ech], ["m1", "m2"])
        (e1, _), (e2, _) = ech
        self.assertGreaterEqual(e1, first[-1][0] - TOL)
        self.assertLessEqual(e1, second[0][0] + TOL)
        self.assertGreaterEqual(e2, second[-1][0] - TOL)
        self.assertLessEqual(e2, second[-1][0] + FRAME + TOL)
        self.assertEqual(call["stats"]["marks"], 2)
        self.env.take_baseline()

    def test_02_mark_with_nothing_queued_at_once(self):
        res, frames, conn, _ = self.call(
            "/script/mark:first,wait:500,play:300,mark:second", 1500,
            "mark-now")
        audio = self.played(frames, 0, 15)
        self.assert_run(audio, 0, 15)
        ech = dict((n, t) for t, n in self.echoes(conn))
        t_sent = conn.marks_sent()[0][0] / 1e6
        self.assertLess(ech["first"] - t_sent, 0.1, "echoed at once")
        self.assertLess(ech["first"], audio[0][0])
        self.assertGreaterEqual(ech["second"], audio[-1][0] - TOL)

    def test_03_clear_cuts_audio_and_releases_marks(self):
        res, frames, conn, call = self.call(
            "/script/play:3000,mark:a,mark:b,wait:700,clear,wait:300,"
            "play:400,mark:c", 2400, "clear")
        t_clear = [f.t_us for f in conn.events("tx", "clear")][0] / 1e6
        ech = self.echoes(conn)
        self.assertEqual([n for _, n in ech], ["a", "b", "c"])
        for t, n in ech[:2]:
            self.assertGreaterEqual(t, t_clear)
            self.assertLess(t - t_clear, 0.1, "%s echoed at once" % n)
        before = self.played(frames, 0, 150)
        self.assertGreater(len(before), 20)
        self.assert_run(before, 0, len(before))
        self.assertLessEqual(before[-1][0], t_clear + TOL,
                             "no queued audio after the clear")
        # then silence, still 50 packets/s, until the next audio
        after = self.played(frames, 150, 170)
        self.assert_run(after, 150, 170)
        gap = [t for t, i in frames if before[-1][0] < t < after[0][0]]
        self.assertTrue(gap, "the stream goes on between")
        span = after[0][0] - before[-1][0]
        self.assertAlmostEqual(len(gap) + 1, span / FRAME, delta=2)
        self.assertGreaterEqual(ech[2][0], after[-1][0] - TOL)
        self.assertEqual(call["stats"]["marks"], 3)

    def test_04_nameless_mark_and_garbage_tolerated(self):
        res, frames, conn, call = self.call(
            "/script/play:300,marknull,garbage,mark:after,play:300,"
            "mark:end", 1600, "junk")
        self.assert_run(self.played(frames, 0, 15), 0, 15)
        # the audio sent after the junk plays too (compared as bytes: the
        # junk's bad base64 payload, test_06, may shift frame boundaries)
        sig = self.env.agent_signals[0]
        self.assertIn(sig[15 * 160:30 * 160], b"".join(self.payloads))
        names = [n for _, n in self.echoes(conn)]
        self.assertEqual(names[1:], ["after", "end"])
        self.assertIn(names[0], ("", None), "the nameless mark is echoed")
        self.assertEqual(call["stats"]["marks"], 3)

    def test_05_unknown_events_pings_binary_ignored(self):
        sid = b'"streamSid":"$SID"'
        media = gensig.generate("frames", "ulaw", 0.4, seed=43)
        b64 = base64.b64encode(media)
        script = [
            (0.1, 1, b'{"event":"hello",' + sid + b',"x":{"y":[1,2]}}'),
            (0.0, 1, b'{"event":"start",' + sid + b'}'),
            (0.0, 1, b'{"event":"stop",' + sid + b'}'),
            (0.0, 1, b'{"event":"connected","protocol":"Call"}'),
            (0.0, 1, b'{"event":"media",' + sid + b',"media":{}}'),
            (0.0, 1, b'{"streamSid":"x"}'),
            (0.0, 9, b"ping"),
            (0.0, 2, b"\x01\x02\x03\x04\x05"),
            (0.0, 1, b'{"event":"media",' + sid +
             b',"media":{"payload":"' + b64 + b'"}}'),
            (0.0, 1, b'{"event":"mark",' + sid + b',"mark":{"name":"ok"}}'),
        ]
        ag = callenv.PyAgent(script=script)
        self.pyagents.append(ag)
        idx = {media[k:k + 160]: k // 160 for k in range(0, len(media), 160)}
        res, _, _, call = self.call(None, 1500, "unknown",
                                    url=ag.url("/py"))
        rec = ag.conns[-1]
        cbtest.wait_for(lambda: rec["closed"], 10, "agent connection end")
        ev = [e for _, e in ag.texts(rec)]
        names = [e.get("event") for e in ev]
        self.assertEqual(names[:2], ["connected", "start"])
        self.assertEqual(names[-1], "stop")
        self.assertEqual(names.count("start"), 1)
        self.assertEqual([e["mark"]["name"] for e in ev
                          if e.get("event") == "mark"], ["ok"])
        # the ping was answered once, with its payload (RFC 6455 5.5.3)
        self.assertEqual([d for _, op, d in rec["frames"] if op == 10],
                         [b"ping"])
        # and the gateway closed with a normal close frame (1000)
        closes = [d for _, op, d in rec["frames"] if op == 8]
        self.assertEqual(len(closes), 1)
        self.assertEqual(int.from_bytes(closes[0][:2], "big"), 1000)
        self.assertEqual(call["stats"]["marks"], 1)
        self.assertEqual(call["end_reason"], "caller-bye")
        # the valid media among the junk played, whole and in order
        got = [i for i in (idx.get(f) for f in self.payloads)
               if i is not None]
        self.assertEqual(got, list(range(20)))

    def test_07_raw_odd_frame_dropped(self):
        """Protocol raw is 16-bit PCM: a binary frame of an odd number
        of bytes would shift every later sample by one byte (noise to the
        end of the call). It is dropped, and the audio around it plays
        whole and in order."""
        _, pcm, idx = pcm_frames(0.4, 44)
        script = [(0.1, 2, pcm[:5 * 320]),
                  (0.0, 2, b"\x01\x02\x03"),
                  (0.0, 2, pcm[5 * 320:])]
        ag = callenv.PyAgent(script=script)
        self.pyagents.append(ag)
        self.env.request("agents.put", agent={
            "id": "rawagent", "url": ag.url("/raw"), "protocol": "raw"})
        self.env.number(NUMBER, "rawagent")
        res, _, _, call = self.call(None, 1200, "raw-odd",
                                    url=ag.url("/raw"), agent_id="rawagent")
        got = [i for i in (idx.get(f) for f in self.payloads)
               if i is not None]
        self.assertEqual(got, list(range(20)))
        self.assertEqual(call["stats"]["agent_dropped"], 3)

    def test_09_twilio_l16_odd_payload_dropped(self):
        """The same for protocol twilio with l16 audio: a media payload
        of an odd number of bytes is dropped whole, and the frames
        around it play whole and in order."""
        _, pcm, idx = pcm_frames(0.4, 46)

        def media_msg(payload):
            return (0.0, 1, b'{"event":"media","streamSid":"$SID",'
                    b'"media":{"payload":"' + base64.b64encode(payload) +
                    b'"}}')
        script = [media_msg(pcm[k * 320:(k + 1) * 320]) for k in range(5)]
        script.append(media_msg(b"\x01\x02\x03"))
        script += [media_msg(pcm[k * 320:(k + 1) * 320])
                   for k in range(5, 20)]
        script[0] = (0.1,) + script[0][1:]
        ag = callenv.PyAgent(script=script)
        self.pyagents.append(ag)
        self.env.request("agents.put", agent={
            "id": "l16agent", "url": ag.url("/l16"), "protocol": "twilio",
            "audio": {"encoding": "l16", "sample_rate": 8000}})
        self.env.number(NUMBER, "l16agent")
        _, _, _, call = self.call(None, 1200, "l16-odd",
                                  url=ag.url("/l16"), agent_id="l16agent")
        got = [i for i in (idx.get(f) for f in self.payloads)
               if i is not None]
        self.assertEqual(got, list(range(20)))
        self.assertEqual(call["stats"]["agent_dropped"], 3)   # bytes

    def test_08_raw_marks_and_clear(self):
        """Protocol raw, marks and clear (docs/raw-protocol.md): a mark
        is echoed when the audio sent before it has played, at once when
        nothing is queued; clear drops the queued audio at once and
        echoes the pending mark; audio sent after the clear plays."""
        import json
        _, pcm, idx = pcm_frames(2.8, 45)

        def frames(lo, hi):
            return pcm[lo * 320:hi * 320]

        def mark(name):
            return json.dumps({"event": "mark",
                               "mark": {"name": name}}).encode()
        script = [(0.1, 2, frames(0, 25)),      # 0.5 s at once
                  (0.0, 1, mark("a")),          # after frame 24
                  (1.0, 1, mark("b")),          # nothing queued: at once
                  (0.0, 2, frames(25, 125)),    # 2 s at once
                  (0.0, 1, mark("c")),          # pending at the clear
                  (0.5, 1, b'{"event":"clear"}'),
                  (0.3, 2, frames(125, 135)),
                  (0.0, 1, mark("d"))]          # after frame 134
        ag = callenv.PyAgent(script=script)
        self.pyagents.append(ag)
        self.env.request("agents.put", agent={
            "id": "rawmarks", "url": ag.url("/raw"), "protocol": "raw"})
        self.env.number(NUMBER, "rawmarks")
        _, _, _, call = self.call(None, 3500, "raw-marks",
                                  url=ag.url("/raw"), agent_id="rawmarks")
        heard = [(t, idx[p]) for t, p in self.packets if p in idx]
        got = [i for _, i in heard]
        # 0..24, then the start of 25..124 until the clear, then 125..134
        cut = [i for i in got if 25 <= i < 125]
        self.assertEqual(got[:25], list(range(25)))
        self.assertEqual(cut, list(range(25, 25 + len(cut))))
        self.assertTrue(10 <= len(cut) <= 45, "%d frames before the "
                        "clear (0.5 s after 2 s were queued)" % len(cut))
        self.assertEqual(got[25 + len(cut):], list(range(125, 135)))
        rec = ag.conns[0]
        ech = [(t, json.loads(d)) for t, op, d in rec["frames"] if op == 1]
        ech = [(t, m["mark"]["name"]) for t, m in ech
               if m.get("event") == "mark"]
        self.assertEqual([n for _, n in ech], ["a", "b", "c", "d"])
        when = dict((n, t) for t, n in ech)
        t_of = dict((i, t) for t, i in heard)
        self.assertGreaterEqual(when["a"], t_of[24] - TOL)
        self.assertLess(when["a"], when["b"])
        self.assertLess(when["c"], t_of[125])   # released by the clear
        self.assertGreaterEqual(when["d"], t_of[134] - TOL)
        self.assertEqual(call["stats"]["marks"], 4)

    def test_06_invalid_base64_not_played(self):
        """A media payload that is not base64 is an error for that message
        only: nothing of it is played, and the audio around it plays
        frame-aligned, whole and in order."""
        sid = b'"streamSid":"$SID"'
        m1 = gensig.generate("frames", "ulaw", 0.3, seed=50)
        m2 = gensig.generate("frames", "ulaw", 0.3, seed=51)

        def media(payload):
            return (0.0, 1, b'{"event":"media",' + sid +
                    b',"media":{"payload":"' + payload + b'"}}')
        script = [media(base64.b64encode(m1)),
                  media(b"!!not base64!!"),
                  media(b"////!!!!////"),
                  media(base64.b64encode(m2))]
        script[0] = (0.05,) + script[0][1:]
        ag = callenv.PyAgent(script=script)
        self.pyagents.append(ag)
        self.call(None, 1500, "bad-b64", url=ag.url("/py"))
        ref = m1 + m2
        idx = {ref[k:k + 160]: k // 160 for k in range(0, len(ref), 160)}
        got = [idx.get(p) for p in self.payloads]
        got = [i for i in got if i is not None]
        self.assertEqual(got, list(range(30)),
                         "agent audio after an invalid base64 payload")


if __name__ == "__main__":
    callenv.run_tests()
