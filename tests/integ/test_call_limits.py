#!/usr/bin/env python3
"""Issue 3, the gateway ends calls itself, and cleanly:

  - max_call_duration_s (set to its minimum, 10 s): the call ends by BYE
    once it has lasted that long, the agent gets `stop`;
  - rtp_timeout_s (1 s): a caller whose RTP stops is hung up with BYE, a
    caller that keeps sending is not;
  - SIGTERM with calls in progress: answered calls get BYE and their
    agents `stop`, a ringing call gets 503, the daemon exits 0 with no
    sanitizer report and nothing left in its SIP loop (libre reports
    descriptors and timers still registered at exit);
  - SIGHUP is ignored (there is no reload): a call in progress goes on to
    the caller's own BYE, and the daemon still answers.
"""

import os

import callenv
import cbtest
import rtpsniff

NUMBER = "+14155550401"
N_HANG = "+14155550402"


class LimitsTest(callenv.EnvPerTest):

    def setUp(self):
        callenv.require_sipp(pcap=True)

    def start_env(self, **settings):
        self.env = env = callenv.CallEnv(settings=settings)
        env.agent("talker", "/script/play:all")
        env.agent("hang", "/hang")
        env.number(NUMBER, "talker")
        env.number(N_HANG, "hang")
        return env

    def wait_bye(self, env, seconds, timeout, name):
        w = env.workdir(name)
        env.pcap(w, "ulaw", seconds, seed=71)
        return env.sipp("uac_wait_bye.xml", w, timeout=timeout,
                        keys={"number": NUMBER, "fmt": "0 101"})

    def ended(self, env, reason):
        env.wait_idle()
        rec = env.recent()
        self.assertEqual([c["end_reason"] for c in rec], [reason])
        conn = env.agents[0].rec.wait_closed(1)[0]
        names = conn.event_names()
        self.assertEqual(names.count("stop"), 1)
        self.assertEqual(names[-1], "stop")
        self.assertEqual(conn.peer_close[0], 1000)
        return rec[0]

    def test_max_call_duration(self):
        env = self.start_env(max_call_duration_s=10)
        res = self.wait_bye(env, 1.0, 30, "maxdur").run()
        self.assertEqual(res.rc, 0, res.summary())
        t_200 = res.final_msg("INVITE").t
        t_bye = res.requests("BYE", "recv")[0].t
        self.assertGreaterEqual(t_bye - t_200, 10.0 - 0.05)
        self.assertLess(t_bye - t_200, 15.0)
        self.assertEqual(len(res.requests("BYE", "recv")), 1)
        self.ended(env, "max-duration")
        self.assertEqual(env.close(), 0)

    def test_rtp_timeout(self):
        env = self.start_env(rtp_timeout_s=1)
        run = self.wait_bye(env, 0.6, 20, "rtp-timeout")
        with rtpsniff.Sniffer(run.media_port) as sn:
            res = run.run()
        self.assertEqual(res.rc, 0, res.summary())
        t_200 = res.final_msg("INVITE").t
        t_bye = res.requests("BYE", "recv")[0].t
        # the caller's 0.6 s of RTP, then one second of nothing
        self.assertGreaterEqual(t_bye - t_200, 1.5)
        self.assertLess(t_bye - t_200, 5.0)
        self.ended(env, "rtp-timeout")
        self.assertGreater(len(sn.rtp()), 50, "the gateway sent media")

        # a caller that keeps sending is not hung up (uac_call: caller BYE)
        w = env.workdir("rtp-ok")
        env.pcap(w, "ulaw", 3.0, seed=72)
        host = "127.0.0.1:%d" % env.gw.sip_port
        res = env.sipp("uac_call.xml", w, keys={
            "ruri": "sip:%s@%s" % (NUMBER, host),
            "to_uri": "sip:%s@%s" % (NUMBER, host), "fmt": "0 101",
            "dir": "sendrecv", "ctype": "application/sdp",
            "xhdr_a": "a", "xhdr_b": "b"}, sets={"hold": 2800}).run()
        self.assertEqual(res.rc, 0, res.summary())
        self.assertEqual(res.requests("BYE", "recv"), [])
        env.wait_idle()
        self.assertEqual(env.recent()[-1]["end_reason"], "caller-bye")
        self.assertEqual(env.close(), 0)

    def test_sigterm_with_calls_in_progress(self):
        env = self.start_env(agent_connect_timeout_ms=20000)
        up = self.wait_bye(env, 3.0, 30, "up").start()
        cbtest.wait_for(lambda: [c for c in env.calls()
                                 if c["state"] == "answered"],
                        10, "a call answered")
        w = env.workdir("ringing")
        env.pcap(w, "ulaw", 0.2, seed=73)
        host = "127.0.0.1:%d" % env.gw.sip_port
        ringing = env.sipp("uac_call.xml", w, keys={
            "ruri": "sip:%s@%s" % (N_HANG, host),
            "to_uri": "sip:%s@%s" % (N_HANG, host), "fmt": "0 101",
            "dir": "sendrecv", "ctype": "application/sdp",
            "xhdr_a": "a", "xhdr_b": "b"}, sets={"hold": 100}).start()
        ringing.wait_message(lambda m: m.code == 180, 10, "180 Ringing")
        cbtest.wait_for(lambda: len(env.calls()) == 2, 10, "two calls")

        rc = env.gw.stop()
        self.assertEqual(rc, 0)
        r_up, r_ringing = up.wait(), ringing.wait()
        self.assertEqual(len(r_up.requests("BYE", "recv")), 1,
                         "the answered call got BYE: " + r_up.summary())
        self.assertEqual(r_up.rc, 0, r_up.summary())
        self.assertEqual(r_ringing.final("INVITE"), 503,
                         r_ringing.summary())
        conn = env.agents[0].rec.wait_closed(1, path="/script/play:all")[0]
        self.assertEqual(conn.event_names()[-1], "stop")
        self.assertEqual(env.leftovers(), [],
                         "nothing left in the SIP thread's loop at exit")
        self.assertEqual(r_ringing.rc, 0, "SIPp: " + r_ringing.summary())

    def thread_nice(self, env):
        """{thread name: nice} of the daemon's threads."""
        out = {}
        base = "/proc/%d/task" % env.gw.proc.pid
        for tid in os.listdir(base):
            with open("%s/%s/stat" % (base, tid)) as f:
                stat = f.read()
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            out[name] = int(stat[stat.rindex(")") + 2:].split()[16])
        return out

    def test_media_priority(self):
        """media_priority N: the media workers run at nice -N (the test
        runs as root), every other thread at normal priority; 0 leaves
        them all at 0."""
        if os.geteuid() != 0:
            self.skipTest("needs root to raise a priority")
        env = self.start_env(workers=2, media_priority=7)
        nice = self.thread_nice(env)
        self.assertEqual({n: v for n, v in nice.items()
                          if n.startswith("cb-media-")},
                         {"cb-media-0": -7, "cb-media-1": -7}, nice)
        self.assertEqual({v for n, v in nice.items()
                          if not n.startswith("cb-media-")}, {0}, nice)
        self.assertIn("media workers at nice -7", env.gw.run_log())
        env.close()
        env = self.start_env(workers=1, media_priority=0)
        self.assertEqual(set(self.thread_nice(env).values()), {0})

    def test_sighup_ignored(self):
        import signal
        env = self.start_env()
        call = env.uac_call(NUMBER, 1500, seed=74, name="hup").start()
        cbtest.wait_for(lambda: [c for c in env.calls()
                                 if c["state"] == "answered"],
                        10, "a call answered")
        env.gw.proc.send_signal(signal.SIGHUP)
        res = call.wait()
        self.assertEqual(res.rc, 0, res.summary())
        self.assertTrue(env.gw.alive(), "SIGHUP killed the daemon")
        self.assertEqual(len(res.requests("BYE", "sent")), 1,
                         "the caller hung up itself: " + res.summary())
        self.ended(env, "caller-bye")
        self.assertEqual(env.request("status").get("ok"), True)

    def test_agent_not_reading(self):
        """An agent whose WebSocket stalls (it stops reading for 12 s):
        once the kernel's buffers and agent_send_queue_kib are full, the
        caller's audio to it is dropped, counted and logged, not queued
        without bound; the call goes on, and when the agent reads again
        it gets fresh media and, at the end, its `stop` (events are never
        dropped)."""
        import json
        env = self.start_env(agent_send_queue_kib=16)
        ag = callenv.PyAgent(stall=(0.5, 12.0), rcvbuf=4096)
        try:
            env.request("agents.put", agent={"id": "stalls",
                                             "url": ag.url("/py")})
            env.number(NUMBER, "stalls")
            res = env.uac_call(NUMBER, 15000, seconds=15.0, seed=75,
                               name="stall").run()
            self.assertEqual(res.rc, 0, res.summary())
            self.assertEqual(len(res.requests("BYE", "sent")), 1,
                             "the caller hung up itself: " + res.summary())
            env.wait_idle()
            calls = env.recent()
            self.assertEqual([c["end_reason"] for c in calls],
                             ["caller-bye"])
            st = calls[0]["stats"]
            print("  stalled 12 s: %d media messages dropped"
                  % st["ws_tx_dropped"])
            self.assertGreater(st["ws_tx_dropped"], 50, st)
            cbtest.wait_for(lambda: ag.conns and ag.conns[0]["closed"], 10,
                            "the agent's connection closed")
            rec = ag.conns[0]
            self.assertIsNotNone(rec["t_resume"], "the agent never stalled")
            msgs = [(t, json.loads(d)) for t, op, d in rec["frames"]
                    if op == 1]
            events = [m["event"] for t, m in msgs]
            self.assertEqual(events[0], "connected")
            self.assertEqual(events[-1], "stop")
            # sequenceNumber counts every message made, so the agent can
            # tell that some were dropped: one gap, while it stalled
            seqs = [int(m["sequenceNumber"]) for t, m in msgs
                    if "sequenceNumber" in m]
            self.assertEqual(seqs, sorted(set(seqs)))
            gaps = [b - a for a, b in zip(seqs, seqs[1:]) if b - a > 1]
            self.assertEqual(len(gaps), 1, gaps)
            self.assertEqual(gaps[0] - 1, st["ws_tx_dropped"])
            # what was queued came first, then fresh audio: media keeps
            # coming after the resume, right up to the caller's BYE
            late = [m for t, m in msgs if m["event"] == "media" and
                    t > rec["t_resume"] + 1.0]
            self.assertGreater(len(late), 50)
            # and the media timestamps jump over the dropped audio
            ts = [int(m["media"]["timestamp"]) for t, m in msgs
                  if m["event"] == "media"]
            self.assertEqual(ts, sorted(ts))
            self.assertGreater(max(b - a for a, b in zip(ts, ts[1:])),
                               20 * 50, "no media was dropped")
            log = env.gw.log()
            self.assertIn("the agent is not reading", log)
            self.assertIn("the agent reads again", log)
        finally:
            ag.close()


if __name__ == "__main__":
    callenv.run_tests()
