#!/usr/bin/env python3
"""SIP over TCP with more calls than libre's default descriptor table
(issue 14, fault 1).

Descriptor numbers are the process's: every call holds an RTP and an RTCP
socket, its agent link and here a TCP connection of its own (SIPp -t tn),
so past about 250 calls a new TCP connection gets a number above 1,024,
libre's table unless told. The daemon starts with a soft limit of 1,024
and a hard one of 4,096: it must raise the soft limit, size libre's table
to it, and then hold 600 calls over TCP while an OPTIONS and a new call,
each on a new TCP connection, still succeed. A limit that cannot fit
max_calls is refused at start-up with a message that says what to change.
"""

import os
import random

import callenv
import cbtest

NUMBER = "+14155550601"
N_CALLS = 600
HOLD_MS = 60000
# SIPp's own sockets, below its open files limit
MAX_SOCKET = ("-max_socket", "2000")


class TcpManyTest(callenv.EnvPerTest):

    def setUp(self):
        callenv.require_sipp(pcap=True)

    def test_01_limit_too_low_refused(self):
        """max_calls that cannot fit in the hard limit: exit 1, and the
        log says what to change."""
        d = cbtest.Daemon(settings={"max_calls": 1000}, nofile=(512, 2048))
        try:
            rc = d.start(expect_fail=True)
            self.assertEqual(rc, 1)
            log = d.run_log()
            self.assertIn("max_calls 1000 needs up to", log)
            self.assertIn("the limit is 2048", log)
            self.assertIn("set max_calls to 230 or less", log)
        finally:
            d.stop()

    def test_02_600_calls_over_tcp(self):
        rtp = random.SystemRandom().randrange(20000, 26000, 2)
        self.env = env = callenv.CallEnv(settings={
            "max_calls": 700, "rtp_timeout_s": 0,
            "rtp_port_min": rtp, "rtp_port_max": rtp + 1999,
            "agent_connect_timeout_ms": 15000}, nofile=(1024, 4096))
        env.agent("quiet", "/record")
        env.number(NUMBER, "quiet")

        w = env.workdir("many")
        inf = os.path.join(w, "calls.csv")
        with open(inf, "w") as f:
            f.write("SEQUENTIAL\n")
            for k in range(N_CALLS):
                # RTP to the discard port: nobody listens, nothing breaks
                f.write("%s;9;%d\n" % (NUMBER, k))
        run = env.sipp("uac_many.xml", w, calls=N_CALLS, rate=150,
                       limit=N_CALLS, inf=inf, transport="tn",
                       sets={"hold": HOLD_MS}, timeout=120,
                       extra=MAX_SOCKET)
        run.start()

        def all_up():
            if not run.running():
                raise AssertionError("SIPp ended early: %s"
                                     % run.wait().summary())
            calls = env.calls()
            return sum(1 for c in calls if c["state"] == "answered") \
                >= N_CALLS
        cbtest.wait_for(all_up, 50, "%d calls answered" % N_CALLS,
                        interval=0.5)

        # while they are up: an OPTIONS and a new call, each on a new TCP
        # connection (descriptor numbers far above 1,024 by now)
        fds = len(os.listdir("/proc/%d/fd" % env.gw.proc.pid))
        self.assertGreater(fds, 1024 + 600)
        w2 = env.workdir("options")
        res = env.sipp("uac_options.xml", w2, transport="tn",
                       keys={"number": NUMBER}, extra=MAX_SOCKET).run()
        self.assertEqual(res.rc, 0, res.summary())
        self.assertEqual(res.final("OPTIONS"), 200, res.summary())
        res = env.uac_call(NUMBER, hold=300, name="one-more",
                           transport="tn", extra=MAX_SOCKET).run()
        self.assertEqual(res.final("INVITE"), 200, res.summary())
        self.assertEqual(res.rc, 0, res.summary())

        res = run.wait()
        self.assertEqual(res.rc, 0, res.summary())
        self.assertEqual(len(res.requests("BYE", "sent")), N_CALLS)
        env.wait_idle(timeout=60)
        self.assertNotIn("Max 1024 fds", env.gw.run_log())
        self.assertIn("open files: limit 4096", env.gw.run_log())
        self.assertEqual(env.close(), 0)
        self.env = None


if __name__ == "__main__":
    callenv.run_tests()
