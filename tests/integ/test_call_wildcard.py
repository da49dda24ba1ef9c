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

    @classmethod
    def setUpClass(cls):
        callenv.require_sipp()
        cls.port = cbtest.free_port()
        cls.env = env = callenv.CallEnv(settings={
            "sip_listen": "udp:0.0.0.0:%d tcp:0.0.0.0:%d"
                          % (cls.port, cls.port),
            "rtp_address": "0.0.0.0"})
        env.gw.sip_port = cls.port      # where SIPp sends (env.sipp)
        env.agent("echo", "/script/play:all")
        env.number(NUMBER, "echo")

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def call(self, transport):
        kw = {"transport": "t1"} if transport == "tcp" else {}
        return self.env.uac_call(NUMBER, 300, seed=7,
                                 name="call-" + transport, **kw).run()

    def check(self, transport):
        before = {c["call_sid"] for c in self.env.recent()}
        res = self.call(transport)
        self.assertEqual(res.final("INVITE"), 200, res.summary())
        self.assertEqual(res.rc, 0, res.summary())
        ok = res.final_msg("INVITE")
        contact = ok.header("Contact") or ok.header("m")
        self.assertIsNotNone(contact, ok.text)
        m = re.search(r"sip:[^@>;]*@([^:;>]+):(\d+)", contact)
        self.assertIsNotNone(m, contact)
        self.assertEqual((m.group(1), int(m.group(2))),
                         ("127.0.0.1", self.port), contact)
        c = re.findall(r"^c=IN IP4 (\S+)", ok.text, re.M)
        self.assertEqual(c, ["127.0.0.1"], ok.text)
        self.env.wait_idle()
        self.assertEqual([c["end_reason"] for c in self.env.recent()
                          if c["call_sid"] not in before], ["caller-bye"])

    def test_01_udp(self):
        self.check("udp")

    def test_02_tcp(self):
        self.check("tcp")


class NatTest(WildcardTest):
    """The same gateway, behind NAT: it must advertise the public side."""

    @classmethod
    def setUpClass(cls):
        callenv.require_sipp()
        cls.port = cbtest.free_port()
        cls.env = env = callenv.CallEnv(settings={
            "sip_listen": "udp:0.0.0.0:%d tcp:0.0.0.0:%d"
                          % (cls.port, cls.port),
            "rtp_address": "0.0.0.0",
            "sip_advertise": "127.0.0.2",
            "rtp_advertise": "127.0.0.3"})
        env.gw.sip_port = cls.port
        env.agent("echo", "/script/play:all")
        env.number(NUMBER, "echo")

    def check(self, transport):
        before = {c["call_sid"] for c in self.env.recent()}
        res = self.call(transport)
        self.assertEqual(res.final("INVITE"), 200, res.summary())
        self.assertEqual(res.rc, 0, res.summary())
        ok = res.final_msg("INVITE")
        contact = ok.header("Contact") or ok.header("m")
        self.assertIsNotNone(contact, ok.text)
        want = "<sip:callbridge@127.0.0.2:%d%s>" % (
            self.port, ";transport=tcp" if transport == "tcp" else "")
        self.assertEqual(contact.strip(), want, ok.text)
        c = re.findall(r"^c=IN IP4 (\S+)", ok.text, re.M)
        self.assertEqual(c, ["127.0.0.3"], ok.text)
        self.env.wait_idle()
        self.assertEqual([c["end_reason"] for c in self.env.recent()
                          if c["call_sid"] not in before], ["caller-bye"])


if __name__ == "__main__":
    callenv.run_tests()
