#!/usr/bin/env python3
"""Agents on IPv6 (ws://[::1]:P, wss://[::1]:P): the agent link takes a
bracketed IPv6 literal, connects over IPv6, sends Host as "[::1]:P", and
for wss:// checks the certificate against the IPv6 address (an IP SAN),
as it does for IPv4 and DNS names (test_call_tls). The carrier side is
IPv4 (SIPp).

  - a call to a ws://[::1] agent is answered and streams (connected,
    start, media, stop), Host is "[::1]:P";
  - a call to a wss://[::1] agent whose certificate (from the test CA)
    names IP ::1 is answered and streams;
  - a wss://[::1] agent whose certificate names only localhost is
    refused (503).

The carrier on IPv6 (Ipv6SipTest): SIPp calls over [::1], UDP and TCP,
with rtp_address ::1: the answer's Contact is [::1]:P, its SDP says
c=IN IP6 ::1, RTP flows both ways, the call ends with the caller's BYE.
And a dual-stack RTP socket (rtp_address ::) takes an IPv4 carrier:
c=IN IP4 127.0.0.1, RTP both ways.
"""

import os
import re
import shutil
import tempfile

import callenv
import cbtest
import test_call_tls

N_WS = "+14155550801"
N_WSS = "+14155550802"
N_WRONG = "+14155550803"


def v6_cert(d):
    """A server certificate from the test CA for IP ::1."""
    run = test_call_tls.openssl
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=ip6",
        "-keyout", "v6.key", "-out", "v6.csr", cwd=d)
    with open(os.path.join(d, "v6.ext"), "w") as f:
        f.write("subjectAltName=IP:::1\n")
    run("x509", "-req", "-in", "v6.csr", "-CA", "ca.pem", "-CAkey",
        "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "v6.ext",
        "-out", "v6.pem", cwd=d)
    return os.path.join(d, "v6.pem"), os.path.join(d, "v6.key")


def have_ipv6_loopback():
    import socket
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


class Ipv6AgentTest(callenv.CallTestCase):

    @classmethod
    def setUpClass(cls):
        callenv.require_sipp()
        if not have_ipv6_loopback():
            raise cls.skipTest(cls, "no IPv6 loopback here")
        cls.pki_dir = tempfile.mkdtemp(prefix="cb-ip6-")
        pki = test_call_tls.make_pki(cls.pki_dir)
        cert, key = v6_cert(cls.pki_dir)
        cls.plain = callenv.PyAgent(bind="::1")
        cls.tls = callenv.PyAgent(bind="::1",
                                  tls=test_call_tls.server_ctx(cert, key))
        cls.wrong = callenv.PyAgent(bind="::1", tls=test_call_tls.server_ctx(
            pki["srv.pem"], pki["srv.key"]))
        cls.env = env = callenv.CallEnv(
            settings={"agent_tls_ca": pki["ca.pem"]})
        for aid, ag in (("ws6", cls.plain), ("wss6", cls.tls),
                        ("wrong6", cls.wrong)):
            env.request("agents.put", agent={"id": aid,
                                             "url": ag.url("/v6")})
        env.number(N_WS, "ws6")
        env.number(N_WSS, "wss6")
        env.number(N_WRONG, "wrong6")

    @classmethod
    def tearDownClass(cls):
        try:
            cls.env.close()
        finally:
            for ag in (cls.plain, cls.tls, cls.wrong):
                ag.close()
            shutil.rmtree(cls.pki_dir, ignore_errors=True)

    def call(self, number):
        return self.env.uac_call(number, 600, seconds=0.6, seed=8).run()

    def streamed(self, agent, number):
        self.streamed_call(agent, number, "[::1]:%d" % agent.port, seed=8)

    def test_01_ws_over_ipv6(self):
        self.streamed(self.plain, N_WS)

    def test_02_wss_over_ipv6_ip_san(self):
        self.streamed(self.tls, N_WSS)

    def test_03_wss_ipv6_name_mismatch(self):
        n = len(self.wrong.conns)
        res = self.call(N_WRONG)
        self.assertEqual(res.final("INVITE"), 503, res.summary())
        cbtest.wait_for(lambda: len(self.wrong.conns) > n and
                        self.wrong.conns[n]["closed"], 10, "the refusal")
        self.assertIsNotNone(self.wrong.conns[n]["tls_error"])


class Ipv6SipTest(callenv.CallTestCase):

    NUMBER = "+14155550810"

    def setUp(self):
        callenv.require_sipp()
        if not have_ipv6_loopback():
            self.skipTest("no IPv6 loopback here")
        self.env = None

    def tearDown(self):
        super().tearDown()
        if self.env:
            self.env.close()

    def start(self, host, rtp_address):
        port = cbtest.free_port(host)
        h = "[%s]" % host if ":" in host else host
        self.env = env = callenv.CallEnv(settings={
            "sip_listen": "udp:%s:%d tcp:%s:%d" % (h, port, h, port),
            "rtp_address": rtp_address})
        env.gw.sip_port = port
        env.agent("echo", "/script/play:all")
        env.number(self.NUMBER, "echo")
        return port, h

    def call(self, host, port, h, transport="u1"):
        env = self.env
        w = env.workdir("v6-" + transport)
        env.pcap(w, "ulaw", 0.6, seed=9)
        uri = "sip:%s@%s:%d" % (self.NUMBER, h, port)
        res = env.sipp("uac_call.xml", w, host=host, transport=transport,
                       keys={"ruri": uri, "to_uri": uri, "fmt": "0 101",
                             "dir": "sendrecv",
                             "ctype": "application/sdp",
                             "xhdr_a": "a", "xhdr_b": "b"},
                       sets={"hold": 1000}).run()
        self.assertEqual(res.final("INVITE"), 200, res.summary())
        self.assertEqual(res.rc, 0, res.summary())
        env.wait_idle()
        rec = env.recent()[-1]
        self.assertEqual(rec["end_reason"], "caller-bye")
        st = rec["stats"]
        self.assertGreaterEqual(st["rtp_rx"], 25, st)   # 0.6 s sent
        self.assertGreaterEqual(st["rtp_tx"], 40, st)
        self.assertEqual(st["rtp_foreign"], 0, st)
        return res.final_msg("INVITE")

    def check_v6(self, transport):
        port, h = self.start("::1", "::1")
        ok = self.call("::1", port, h, transport)
        contact = ok.header("Contact") or ok.header("m")
        self.assertIn("@[::1]:%d" % port, contact)
        self.assertEqual(re.findall(r"^c=IN (\S+ \S+)", ok.text, re.M),
                         ["IP6 ::1"], ok.text)

    def test_01_sip_udp_over_ipv6(self):
        self.check_v6("u1")

    def test_02_sip_tcp_over_ipv6(self):
        self.check_v6("t1")

    def test_03_dual_stack_rtp_ipv4_carrier(self):
        port, h = self.start("127.0.0.1", "::")
        ok = self.call("127.0.0.1", port, h)
        self.assertEqual(re.findall(r"^c=IN (\S+ \S+)", ok.text, re.M),
                         ["IP4 127.0.0.1"], ok.text)


if __name__ == "__main__":
    callenv.run_tests()
