#!/usr/bin/env python3
"""A gateway listening on the wildcard address, as deployed for real
traffic (sip_listen udp:0.0.0.0:P, rtp_address 0.0.0.0; the Dockerfile
says so): what it tells the carrier must be an address the carrier can
reach, never 0.0.0.0.

  - over UDP, the 200 OK's Contact names the address the request came in
    on (127.0.0.1 here), not the socket's 0.0.0.0, so the carrier's ACK and
    BYE reach the gateway; the SDP's c= line does too (c=0.0.0.0 would mean
    hold); the call runs and ends with the caller's BYE;
  - the same over TCP;
  - behind NAT (sip_advertise, rtp_advertise set to the public address:
    127.0.0.2 and 127.0.0.3 stand for it here), Contact names the public
    address with the port and transport the request came in on, and c=
    the public media address; the carrier's ACK (sent to that Contact's
    URI) and BYE still complete the call.

Runs in its own network namespace when allowed (callenv.isolate), so the
wildcard listener is reachable from loopback only.
"""

import re

import callenv
import cbtest

NUMBER = "+14155550701"


class WildcardTest(callenv.CallTestCase):

    SETTINGS = {}       # more settings (NatTest)

    @classmethod
    def setUpClass(cls):
        callenv.require_sipp()
        cls.port = cbtest.free_port()
        cls.env = env = callenv.CallEnv(settings=dict({
            "sip_listen": "udp:0.0.0.0:%d tcp:0.0.0.0:%d"
                          % (cls.port, cls.port),
            "rtp_address": "0.0.0.0"}, **cls.SETTINGS))
        env.gw.sip_port = cls.port      # where SIPp sends (env.sipp)
        env.agent("echo", "/script/play:all")
        env.number(NUMBER, "echo")

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def answered(self, transport):
        """A call over `transport`, answered and ended by the caller's
        BYE; returns (the 200's Contact, the c= addresses of its SDP)."""
        kw = {"transport": "t1"} if transport == "tcp" else {}
        before = {c["call_sid"] for c in self.env.recent()}
        res = self.env.uac_call(NUMBER, 300, seed=7,
                                name="call-" + transport, **kw).run()
        self.assertEqual(res.final("INVITE"), 200, res.summary())
        self.assertEqual(res.rc, 0, res.summary())
        ok = res.final_msg("INVITE")
        contact = ok.header("Contact") or ok.header("m")
        self.assertIsNotNone(contact, ok.text)
        self.env.wait_idle()
        self.assertEqual([c["end_reason"] for c in self.env.recent()
                          if c["call_sid"] not in before], ["caller-bye"])
        return contact, re.findall(r"^c=IN IP4 (\S+)", ok.text, re.M)

    def check(self, transport):
        contact, c = self.answered(transport)
        m = re.search(r"sip:[^@>;]*@([^:;>]+):(\d+)", contact)
        self.assertIsNotNone(m, contact)
        self.assertEqual((m.group(1), int(m.group(2))),
                         ("127.0.0.1", self.port), contact)
        self.assertEqual(c, ["127.0.0.1"])

    def test_01_udp(self):
        self.check("udp")

    def test_02_tcp(self):
        self.check("tcp")


class NatTest(WildcardTest):
    """The same gateway, behind NAT: it must advertise the public side."""

    SETTINGS = {"sip_advertise": "127.0.0.2", "rtp_advertise": "127.0.0.3"}

    def check(self, transport):
        contact, c = self.answered(transport)
        want = "<sip:callbridge@127.0.0.2:%d%s>" % (
            self.port, ";transport=tcp" if transport == "tcp" else "")
        self.assertEqual(contact.strip(), want)
        self.assertEqual(c, ["127.0.0.3"])

if __name__ == "__main__":
    callenv.run_tests()
