#!/usr/bin/env python3
"""Issue 3, the answers to calls the gateway cannot take (SIPp carrier,
cb-test-agent agents):

  unknown number 404; number without an inbound agent 480; source outside
  the trunk's allowed_sources 403 (and inside: 200); no supported codec
  488 (trunk default and the number's own codec list); a body that is not
  SDP 415; over max_calls 503 with Retry-After, the calls in progress
  untouched and the limit freed when they end; agent unreachable
  (connection refused) 503; agent that accepts TCP but never completes the
  upgrade 503 after agent_connect_timeout_ms, its connection closed; agent
  that refuses the upgrade 503; OPTIONS 200 with Allow.

A refused call leaves nothing behind: no call in progress, and an agent is
contacted only by calls that were admitted.
"""

import socket
import time

import callenv
import cbtest
import rtpsniff
import sipp

AGENT_TIMEOUT_MS = 600
N_OK = "+14155550101"
N_NOAGENT = "+14155550102"
N_FORBID = "+14155550103"
N_LO = "+14155550104"
N_DOWN = "+14155550105"
N_HANG = "+14155550106"
N_REJ = "+14155550107"
N_PCMA = "+14155550108"
N_UNKNOWN = "+14155550199"
ALLOW = {"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO"}


def closed_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class RefuseTest(callenv.NothingLeft, callenv.CallTestCase):

    @classmethod
    def setUpClass(cls):
        callenv.require_sipp(pcap=True)
        cls.env = env = callenv.CallEnv(settings={
            "agent_connect_timeout_ms": AGENT_TIMEOUT_MS, "max_calls": 2})
        env.agent("ok", "/script/play:all")
        env.agent("quiet", "/")
        env.agent("hang", "/hang")
        env.agent("rejecting", "/reject/500")
        env.request("agents.put", agent={
            "id": "down", "url": "ws://127.0.0.1:%d/" % closed_port()})
        env.request("trunks.put", trunk={
            "id": "closed", "kind": "byoc",
            "inbound": {"allowed_sources": ["10.0.0.0/8", "192.0.2.0/24",
                                            "::1"]}})
        env.request("trunks.put", trunk={
            "id": "loopback", "kind": "byoc",
            "inbound": {"allowed_sources": ["127.0.0.0/8"]}})
        env.number(N_OK, "ok")
        env.number(N_NOAGENT, None, outbound_agent_id="ok")
        env.number(N_FORBID, "ok", trunk="closed")
        env.number(N_LO, "ok", trunk="loopback")
        env.number(N_DOWN, "down")
        env.number(N_HANG, "hang")
        env.number(N_REJ, "rejecting")
        env.number(N_PCMA, "ok", codecs=["PCMA"])

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def invite(self, number, fmt="0 8 101", ctype="application/sdp",
               hold=300, name="call", start_only=False, defer=False):
        """One call with uac_call.xml. Every SIP message the gateway sends
        to SIPp is checked on the wire (sipp.wire_problems)."""
        env = self.env
        w = env.workdir(name)
        env.pcap(w, "ulaw", 0.4, seed=3)
        host = "127.0.0.1:%d" % env.gw.sip_port
        lport = cbtest.free_port()
        run = env.sipp("uac_call.xml", w, local_port=lport, keys={
            "ruri": "sip:%s@%s" % (number, host),
            "to_uri": "sip:%s@%s" % (number, host), "fmt": fmt,
            "dir": "sendrecv", "ctype": ctype, "xhdr_a": "a",
            "xhdr_b": "b"}, sets={"hold": hold})
        if start_only:
            return run.start()
        with rtpsniff.Sniffer(lport) as sn:
            res = run.run()
        res.wire = [p for pk in sn.packets
                    for p in sipp.wire_problems(pk.payload)]
        if not defer:
            self.check_sipp(res)
        return res

    def check_sipp(self, res):
        """SIPp saw well-formed messages and completed its scenario."""
        self.assertEqual(res.wire, [], "malformed SIP from the gateway")
        self.assertEqual(res.rc, 0, "SIPp: " + res.summary())

    def agent_conns(self):
        return len(self.env.agents[0].rec.conns())

    def refused(self, number, code, agent_contact=False, **kw):
        """A call answered `code`; with agent_contact False, refused before
        admission. SIPp's own checks (check_sipp) are the caller's to do
        when defer=True is passed."""
        before_conns = self.agent_conns()
        before = {c["call_sid"] for c in self.env.recent()}
        res = self.invite(number, **kw)
        self.assertEqual(res.final("INVITE"), code, res.summary())
        self.assertNotIn(200, res.codes("INVITE"))
        self.env.wait_idle()
        new = [c for c in self.env.recent() if c["call_sid"] not in before]
        if not agent_contact:
            # refused before admission: no call, no agent
            self.assertEqual(new, [])
            self.assertEqual(self.agent_conns(), before_conns)
        return res, new

    def check_retry_after(self, res):
        m = res.final_msg("INVITE")
        ra = m.header("Retry-After")
        self.assertIsNotNone(ra, "503 carries Retry-After: %s" % m.text)
        self.assertRegex(ra, r"^\d+")
        self.assertGreater(int(ra.split()[0].split(";")[0]), 0)

    # -- answers -----------------------------------------------------------

    def test_01_admitted_call_works(self):
        """The control case: the same set-up answers a good call."""
        res = self.invite(N_OK)
        self.assertEqual(res.final("INVITE"), 200, res.summary())
        self.assertEqual(res.rc, 0, res.summary())
        self.env.take_baseline()

    def test_02_unknown_number_404(self):
        self.refused(N_UNKNOWN, 404)

    def test_03_no_inbound_agent_480(self):
        self.refused(N_NOAGENT, 480)

    def test_04_source_not_allowed_403(self):
        self.refused(N_FORBID, 403)
        res = self.invite(N_LO)
        self.assertEqual(res.final("INVITE"), 200,
                         "127.0.0.0/8 allowed: " + res.summary())

    def test_05_no_common_codec_488(self):
        for fmt in ("18 3", "101", "18 101"):
            with self.subTest(fmt=fmt):
                self.refused(N_OK, 488, fmt=fmt)
        with self.subTest("number allows PCMA only"):
            self.refused(N_PCMA, 488, fmt="0 101")
            res = self.invite(N_PCMA, fmt="0 8 101")
            self.assertEqual(res.final("INVITE"), 200, res.summary())
            m = res.final_msg("INVITE")
            self.assertRegex(m.body, r"m=audio \d+ RTP/AVP 8( |$)")

    def test_06_body_not_sdp_415(self):
        res, _ = self.refused(N_OK, 415, ctype="text/plain")
        self.assertIn("application/sdp",
                      res.final_msg("INVITE").header("Accept", ""))

    def test_07_agent_unreachable_503(self):
        res, new = self.refused(N_DOWN, 503, agent_contact=True,
                                  defer=True)
        self.check_retry_after(res)
        self.assertEqual([c["end_reason"] for c in new], ["agent-failed"])
        self.assertEqual(res.codes("INVITE")[-1], 503)
        self.check_sipp(res)

    def test_08_agent_never_upgrades_503_after_timeout(self):
        before = self.agent_conns()
        res, new = self.refused(N_HANG, 503, agent_contact=True,
                                  defer=True)
        self.check_retry_after(res)
        self.assertEqual([c["end_reason"] for c in new], ["agent-timeout"])
        t_inv = res.requests("INVITE", "sent")[0].t
        t_503 = res.final_msg("INVITE").t
        self.assertGreaterEqual(t_503 - t_inv, AGENT_TIMEOUT_MS / 1000.0
                                - 0.005, "503 only after the timeout")
        self.assertIn(180, res.codes("INVITE"), "ringing while waiting")
        # the gateway gave up on the agent: its TCP connection is closed
        conns = self.env.agents[0].rec.wait_closed(
            1, timeout=5, path="/hang",
            where=lambda c: c.name > "c%04d" % before)
        self.assertFalse(conns[0].opened)
        self.check_sipp(res)

    def test_09_agent_refuses_upgrade_503(self):
        res, new = self.refused(N_REJ, 503, agent_contact=True,
                                  defer=True)
        self.check_retry_after(res)
        self.assertEqual([c["end_reason"] for c in new], ["agent-failed"])
        self.check_sipp(res)

    def test_10_over_max_calls_503(self):
        env = self.env
        self.env.agent("ok", "/")     # quiet while the limit is held
        runs = [self.invite(N_OK, hold=2500, name="hold%d" % i,
                            start_only=True) for i in range(2)]
        try:
            cbtest.wait_for(lambda: len([c for c in env.calls()
                                         if c["state"] == "answered"])
                            == 2, 10, "two calls up")
            res = self.invite(N_OK, name="third")
            self.assertEqual(res.final("INVITE"), 503, res.summary())
            self.check_retry_after(res)
            self.assertEqual(len(env.calls()), 2, "calls up untouched")
        finally:
            held = [r.wait() for r in runs]
            self.env.agent("ok", "/script/play:all")
        for r in held:
            self.assertEqual(r.rc, 0, r.summary())
            self.assertEqual(r.final("INVITE"), 200)
            self.assertEqual(r.final("BYE"), 200)
        env.wait_idle()
        res = self.invite(N_OK, name="after")
        self.assertEqual(res.final("INVITE"), 200, "limit freed: "
                         + res.summary())

    def test_11_options_200(self):
        for number in (N_OK, N_UNKNOWN):
            with self.subTest(number=number):
                w = self.env.workdir("options")
                res = self.env.sipp("uac_options.xml", w,
                                    keys={"number": number}).run()
                self.assertEqual(res.rc, 0, res.summary())
                m = res.final_msg("OPTIONS")
                self.assertEqual(m.code, 200)
                allow = {a.strip() for a in
                         m.header("Allow", "").split(",")}
                self.assertTrue(ALLOW <= allow, allow)
        self.assertEqual(self.env.calls(), [])


if __name__ == "__main__":
    callenv.run_tests()
