#!/usr/bin/env python3
"""Issue 3, many calls at once and live changes:

  - 20 concurrent calls to 20 numbers answered by 4 agents (4 cb-test-agent
    processes, each playing its own signal): one SIPp process places the
    calls (uac_many.xml), the test owns each call's caller media (a
    distinct signal per call, sent as RTP from its own socket, and the RTP
    the gateway sends back). Each call reaches its own number's agent with
    the call's facts; each agent connection hears exactly its caller's
    signal; each caller hears exactly its agent's signal: no audio crosses
    calls. Calls spread over the media workers.
  - Changing a number's agent (or an agent's URL) during a call does not
    touch that call; the next call goes to the new agent.
"""

import os
import time

import agentlog
import callenv
import cbtest
import gensig
import rtpsniff

NCALLS = 20
NAGENTS = 4
HOLD_MS = 3000


def number(k):
    return "+1415555%04d" % (1000 + k)


class ConcurrentTest(callenv.NothingLeft, callenv.CallTestCase):

    @classmethod
    def setUpClass(cls):
        callenv.require_sipp(pcap=True)
        cls.env = callenv.CallEnv(agents=NAGENTS, agent_seconds=4.0,
                                  settings={"max_calls": 100})
        for i in range(NAGENTS):
            cls.env.agent("agent%d" % i, "/script/play:all", which=i)

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def test_01_twenty_calls_four_agents(self):
        env = self.env
        for k in range(NCALLS):
            env.number(number(k), "agent%d" % (k % NAGENTS),
                       friendly_name="Line %d" % k)
        sigs = [gensig.generate("frames", "ulaw", 2.0, seed=1000 + k)
                for k in range(NCALLS)]
        w = env.workdir("many")
        with rtpsniff.RtpHub() as hub:
            eps = [hub.endpoint() for _ in range(NCALLS)]
            inf = os.path.join(w, "calls.csv")
            with open(inf, "w") as f:
                f.write("SEQUENTIAL\n")
                for k in range(NCALLS):
                    f.write("%s;%d;%d\n" % (number(k), eps[k].port, k))
            run = env.sipp("uac_many.xml", w, calls=NCALLS, rate=20,
                           limit=NCALLS, inf=inf, sets={"hold": HOLD_MS},
                           timeout=40)
            run.start()
            # start each caller's audio when its call is answered
            callid = {}
            started = set()
            deadline = time.monotonic() + 30
            while len(started) < NCALLS:
                if time.monotonic() > deadline or not run.running():
                    break
                for m in run.messages():
                    cid = m.header("call-id")
                    if m.dir == "sent" and m.method == "INVITE" and \
                            m.cseq == 1:
                        callid[cid] = int(m.header("X-Call-Index"))
                    elif m.code == 200 and m.cseq_method == "INVITE" and \
                            cid in callid and cid not in started:
                        k = callid[cid]
                        port = int(m.body.split("m=audio ")[1].split()[0])
                        eps[k].play(("127.0.0.1", port), sigs[k],
                                    ssrc=0x10000 + k)
                        started.add(cid)
                time.sleep(0.02)
            res = run.wait()
            self.assertEqual(len(started), NCALLS, res.summary())
        self.assertEqual(res.rc, 0, res.summary())
        self.assertEqual(len(res.requests("BYE", "sent")), NCALLS)
        env.wait_idle()

        # every call ended once, on its number's agent, across workers
        recent = [c for c in env.recent() if c["number"] in
                  {number(k) for k in range(NCALLS)}]
        self.assertEqual(len(recent), NCALLS)
        by_sid = {c["call_sid"]: c for c in recent}
        for c in recent:
            k = int(c["number"][-4:]) - 1000
            self.assertEqual(c["agent_id"], "agent%d" % (k % NAGENTS))
            self.assertEqual(c["end_reason"], "caller-bye")
        self.assertEqual({c["worker"] for c in recent}, {0, 1},
                         "calls spread over both media workers")

        # caller -> agent: each connection hears its own caller, exactly
        for i in range(NAGENTS):
            conns = env.agents[i].rec.wait_closed(NCALLS // NAGENTS)
            self.assertEqual(len(conns), NCALLS // NAGENTS)
            for conn in conns:
                self.assertEqual(agentlog.check_twilio_stream(conn), [])
                cp = conn.custom_parameters
                k = int(cp["X-Call-Index"])
                self.assertEqual(k % NAGENTS, i, "call %d on agent %d"
                                 % (k, i))
                self.assertEqual(cp["to"], number(k))
                self.assertEqual(cp["friendly_name"], "Line %d" % k)
                rep = gensig.check_frames(sigs[k], conn.inbound_audio)
                jb = by_sid[conn.start["start"]["callSid"]]["stats"][
                    "jitter_buffer"]
                with self.subTest(call=k):
                    self.assert_exact_but_concealed(rep, jb)

        # agent -> caller: each caller hears its own agent, exactly as
        # far as the agent's signal went, and nothing of the others
        for k in range(NCALLS):
            audio = rtpsniff.payload_audio(eps[k].rtp())
            mine = env.agent_signals[k % NAGENTS]
            rep = gensig.check_frames(mine, audio)
            self.assertTrue(rep.contiguous and rep.first == 0 and
                            rep.matched >= 100, "call %d: %s" % (k, rep))
            for j in range(NAGENTS):
                if j != k % NAGENTS:
                    other = gensig.check_frames(env.agent_signals[j], audio)
                    self.assertEqual(other.matched, 0,
                                     "call %d hears agent %d" % (k, j))
        env.take_baseline()

    def call(self, num, name, hold, seconds, seed):
        w = self.env.workdir(name)
        sig = self.env.pcap(w, "ulaw", seconds, seed=seed)
        host = "127.0.0.1:%d" % self.env.gw.sip_port
        run = self.env.sipp("uac_call.xml", w, keys={
            "ruri": "sip:%s@%s" % (num, host),
            "to_uri": "sip:%s@%s" % (num, host), "fmt": "0 101",
            "dir": "sendrecv", "ctype": "application/sdp",
            "xhdr_a": name, "xhdr_b": "-"}, sets={"hold": hold})
        return run.start(), sig

    def test_02_change_agent_during_call(self):
        env = self.env
        num = "+14155552000"
        env.number(num, "agent0")
        n0 = len(env.agents[0].rec.conns())
        n1 = len(env.agents[1].rec.conns())
        first, sig1 = self.call(num, "first", 3000, 2.5, seed=61)
        cbtest.wait_for(lambda: [c for c in env.calls()
                                 if c["number"] == num and
                                 c["state"] == "answered"],
                        10, "the first call answered")
        env.number(num, "agent1")              # the number's agent changes
        second, sig2 = self.call(num, "second", 600, 0.5, seed=62)
        res2 = second.wait()
        self.assertTrue(first.running(), "the first call is still up")
        # and the first call's agent itself changes too
        env.agent("agent0", "/record", which=2)
        res1 = first.wait()
        for res in (res1, res2):
            self.assertEqual(res.rc, 0, res.summary())
            self.assertEqual(res.final("BYE"), 200)
        env.wait_idle()
        by_from = {c["call_sid"]: c for c in env.recent()
                   if c["number"] == num}
        self.assertEqual(sorted(c["agent_id"] for c in by_from.values()),
                         ["agent0", "agent1"])

        c0 = env.agents[0].rec.wait_closed(n0 + 1)[n0:]
        c1 = env.agents[1].rec.wait_closed(n1 + 1)[n1:]
        self.assertEqual(len(c0), 1, "the first call stayed on agent 0")
        self.assertEqual(len(c1), 1, "the second call went to agent 1")
        self.assertEqual(c0[0].custom_parameters["X-Customer-Id"], "first")
        self.assertEqual(c1[0].custom_parameters["X-Customer-Id"], "second")
        for conn, sig in ((c0[0], sig1), (c1[0], sig2)):
            self.assertEqual(agentlog.check_twilio_stream(conn), [])
            rep = gensig.check_frames(sig, conn.inbound_audio)
            jb = by_from[conn.start["start"]["callSid"]]["stats"][
                "jitter_buffer"]
            self.assert_exact_but_concealed(rep, jb)
        self.assertEqual(by_from[c0[0].start["start"]["callSid"]]
                         ["end_reason"], "caller-bye")

        # the next call goes to the new agent URL (process 2)
        n2 = len(env.agents[2].rec.conns())
        env.number(num, "agent0")
        third, _ = self.call(num, "third", 300, 0.3, seed=63)
        self.assertEqual(third.wait().final("INVITE"), 200)
        c2 = env.agents[2].rec.wait_closed(n2 + 1)[n2:]
        self.assertEqual(len(c2), 1)
        self.assertEqual(c2[0].path, "/record")
        self.assertEqual(len(env.agents[0].rec.conns()), n0 + 1)

    def assert_exact_but_concealed(self, rep, jb):
        """The caller's frames reached the agent exactly, except where the
        gateway's jitter buffer says it concealed a packet that came late
        or never (a stall of a loaded machine, as under ASan in CI): then
        the frames are still in order, none twice, and at most 3 slots
        are missing per packet it reported."""
        if rep.exact:
            return
        bad = jb["late"] + jb["lost"]
        self.assertGreater(bad, 0, "not exact with no packet late or lost: "
                           "%s" % rep)
        self.assertEqual(rep.duplicates, 0, str(rep))
        self.assertEqual(rep.first, 0, str(rep))
        self.assertTrue(all(b > a for a, b in rep.gaps), str(rep))
        self.assertLessEqual(rep.nref - rep.matched, 3 * bad, str(rep))


if __name__ == "__main__":
    callenv.run_tests()
