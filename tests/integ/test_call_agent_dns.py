#!/usr/bin/env python3
"""An agent named by a host name with several addresses (gateway/core/resolver.c,
media/mcall_agent.c link_connect): the gateway tries them in getaddrinfo()'s order
and goes on to the next when a connection is refused, as for an AAAA
record without a route or one dead server of several.

The names live in a private /etc/hosts: the test process enters a mount
namespace of its own and binds a file over /etc/hosts there, so the
daemon it starts (and nothing else on the machine) sees them. Skipped
where that is not allowed (not root).

  - agent.test is 127.0.0.1 and 127.0.0.2 (glibc puts 127.0.0.1 first:
    its prefix matches the source address best); the agent listens on
    127.0.0.2 only, so the first connection is refused and the second
    carries the call: answered, the stream whole, Host "agent.test:P";
  - dead.test is two addresses where nothing listens: 503, the call
    ends as agent-failed after both were tried;
  - agent.test again, but 127.0.0.1 now drops the handshake (a listener
    on that port whose accept queue is full: the kernel drops further
    SYNs, as a firewall or a dead route would): after its 1 s turn the
    next address carries the call, well inside the agent connect
    timeout (without the turn, the connect attempt runs past it: 503).
"""

import ctypes
import os
import shutil
import socket
import tempfile

import callenv
import cbtest

N_TWO = "+14155550901"
N_DEAD = "+14155550902"

CLONE_NEWNS = 0x00020000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18


def private_hosts(lines):
    """Enter a mount namespace whose /etc/hosts has `lines` added.
    Returns the temporary directory, or None if not allowed."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        return None
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return None
    d = tempfile.mkdtemp(prefix="cb-hosts-")
    path = os.path.join(d, "hosts")
    with open("/etc/hosts") as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.rstrip("\n") + "\n" + "".join(l + "\n" for l in lines))
    if libc.mount(path.encode(), b"/etc/hosts", None, MS_BIND, None) != 0:
        shutil.rmtree(d, ignore_errors=True)
        return None
    return d


class AgentDnsTest(callenv.CallTestCase):

    @classmethod
    def setUpClass(cls):
        callenv.require_sipp()
        cls.tmp = private_hosts(["127.0.0.1 agent.test",
                                 "127.0.0.2 agent.test",
                                 "127.0.0.3 dead.test",
                                 "127.0.0.4 dead.test"])
        if not cls.tmp:
            raise cls.skipTest(cls, "no private /etc/hosts here (root "
                               "and mount namespaces needed)")
        cls.agent = callenv.PyAgent(bind="127.0.0.2")
        cls.env = env = callenv.CallEnv()
        env.request("agents.put", agent={
            "id": "two", "url": cls.agent.url("/", host="agent.test")})
        env.request("agents.put", agent={
            "id": "dead", "url": "ws://dead.test:%d/" % cls.agent.port})
        env.number(N_TWO, "two")
        env.number(N_DEAD, "dead")

    @classmethod
    def tearDownClass(cls):
        try:
            cls.env.close()
        finally:
            cls.agent.close()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_00_order(self):
        """The premise: the refused address comes first."""
        got = [a[4][0] for a in socket.getaddrinfo(
            "agent.test", self.agent.port, socket.AF_UNSPEC,
            socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)]
        self.assertEqual(got, ["127.0.0.1", "127.0.0.2"])

    def test_01_next_address_carries_the_call(self):
        self.streamed_call(self.agent, N_TWO,
                           "agent.test:%d" % self.agent.port, seed=11)
        self.assertIn("agent two at 127.0.0.1: Unable to connect; trying "
                      "the next address, 127.0.0.2", self.env.gw.log())

    def test_02_every_address_refused(self):
        before = {c["call_sid"] for c in self.env.recent()}
        res = self.env.uac_call(N_DEAD, 600, seed=12).run()
        self.assertEqual(res.final("INVITE"), 503, res.summary())
        self.env.wait_idle()
        new = [c for c in self.env.recent() if c["call_sid"] not in before]
        self.assertEqual([c["end_reason"] for c in new], ["agent-failed"])
        log = self.env.gw.log()
        self.assertIn("agent dead at 127.0.0.3: Unable to connect; trying "
                      "the next address, 127.0.0.4", log)
        self.assertIn("agent dead at 127.0.0.4: Unable to connect", log)

    def test_03_silent_address_gets_a_turn(self):
        hole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        fill = []
        try:
            hole.bind(("127.0.0.1", self.agent.port))
            hole.listen(0)
            for _ in range(3):      # fill its accept queue
                c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                c.setblocking(False)
                c.connect_ex(("127.0.0.1", self.agent.port))
                fill.append(c)
            # the premise: a new connection there gets no answer
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.settimeout(0.5)
            with self.assertRaises(socket.timeout):
                probe.connect(("127.0.0.1", self.agent.port))
            probe.close()

            n = len(self.agent.conns)
            res = self.env.uac_call(N_TWO, 600, seconds=0.6, seed=13).run()
            self.assertEqual(res.final("INVITE"), 200, res.summary())
            self.assertEqual(res.rc, 0, res.summary())
            cbtest.wait_for(lambda: len(self.agent.conns) > n and
                            self.agent.conns[n]["closed"], 10,
                            "the agent's end")
            events = [e["event"] for _, e in
                      self.agent.texts(self.agent.conns[n])]
            self.assertEqual(events[-1], "stop")
            self.assertIn("agent two at 127.0.0.1: no connection within "
                          "1000 ms; trying the next address, 127.0.0.2",
                          self.env.gw.log())
        finally:
            for c in fill:
                c.close()
            hole.close()


if __name__ == "__main__":
    callenv.run_tests()
