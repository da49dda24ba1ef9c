#!/usr/bin/env python3
"""Flood limits per source address, and calls that are never ACKed
(issue 14, fault 3).

A flooder (this test's own UDP socket on 127.0.0.2) sends INVITEs for a
real number as fast as it can and never ACKs anything, as the PROTOS run
did; another source (SIPp on 127.0.0.3) places ordinary calls meanwhile.
The flooder gets its burst and rate's worth of calls, every other INVITE a
stateless 503 with Retry-After (or nothing, with sip_flood_action drop),
the other source's calls all succeed, the episode is logged once and
counted in status; the flooder's answered calls end for want of an ACK
after sip_ack_timeout_ms, freeing their slots and agents, and libre's
BYE follows when it stops retransmitting the 200 (64 x T1).
"""

import re
import socket
import time

import callenv
import cbtest

NUMBER = "+14155550801"
FLOODER = "127.0.0.2"
CALLER = "127.0.0.3"
LONER = "127.0.0.4"

SDP = ("v=0\r\no=flood 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\n"
       "t=0 0\r\nm=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


def invite(ip, port, gw_port, k):
    body = SDP.format(ip=ip)
    return ("INVITE sip:{num}@127.0.0.1:{gp} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP {ip}:{port};branch=z9hG4bK-fl{k}\r\n"
            "From: <sip:flood@{ip}:{port}>;tag=fl{k}\r\n"
            "To: <sip:{num}@127.0.0.1:{gp}>\r\n"
            "Call-ID: flood-{k}@{ip}\r\n"
            "CSeq: 1 INVITE\r\n"
            "Contact: <sip:flood@{ip}:{port}>\r\n"
            "Max-Forwards: 70\r\n"
            "Content-Type: application/sdp\r\n"
            "Content-Length: {n}\r\n\r\n{body}").format(
                num=NUMBER, gp=gw_port, ip=ip, port=port, k=k,
                n=len(body), body=body).encode()


class Uac:
    """A UDP socket that sends INVITEs and never ACKs: the replies it
    got, by Call-ID."""

    def __init__(self, ip):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # room for the replies to a flood: SO_RCVBUFFORCE (root) passes
        # rmem_max; a reply lost here is not one the gateway did not send
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                 8 << 20)
        self.sock.bind((ip, 0))
        self.sock.setblocking(False)
        self.ip, self.port = self.sock.getsockname()
        self.replies = {}        # call-id -> [(t, code)]
        self.requests = []       # (t, first line, call-id)

    def send(self, gw_port, k):
        self.sock.sendto(invite(self.ip, self.port, gw_port, k),
                         ("127.0.0.1", gw_port))

    def drain(self):
        while True:
            try:
                data = self.sock.recv(65535)
            except (BlockingIOError, OSError):
                return
            text = data.decode(errors="replace")
            first = text.split("\r\n", 1)[0]
            m = re.search(r"^Call-ID:\s*(\S+)", text, re.M | re.I)
            cid = m.group(1) if m else None
            if first.startswith("SIP/2.0 "):
                self.replies.setdefault(cid, []).append(
                    (time.monotonic(), int(first.split()[1])))
            else:
                self.requests.append((time.monotonic(), first, cid))

    def finals(self, code):
        return sum(1 for r in self.replies.values()
                   if any(c == code for _, c in r))

    def close(self):
        self.sock.close()


def udp_drops(port):
    """Datagrams the kernel dropped for want of room in the receive buffer
    of the UDP socket bound to 127.0.0.1:port (/proc/net/udp's drops): on
    a busy host a flood outruns the SIP thread, and what the kernel drops
    never reached the gateway to be counted."""
    want = "0100007F:%04X" % port
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            col = line.split()
            if col[1] == want:
                return int(col[-1])
    raise AssertionError("no UDP socket on 127.0.0.1:%d" % port)


class FloodTest(callenv.EnvPerTest):

    def setUp(self):
        callenv.require_sipp()

    def start_env(self, **settings):
        base = {"sip_invite_rate": 50, "sip_invite_burst": 100,
                "sip_pending_per_source": 100, "sip_ack_timeout_ms": 2000}
        base.update(settings)
        self.env = env = callenv.CallEnv(settings=base)
        env.agent("rec", "/record")
        env.number(NUMBER, "rec")
        return env

    def flood(self, env, n, seconds):
        """n INVITEs from FLOODER spread over `seconds`, answered by no
        ACK; returns the Uac once its replies have come in."""
        fl = Uac(FLOODER)
        t0 = time.monotonic()
        for k in range(n):
            fl.send(env.gw.sip_port, k)
            if k % 10 == 9:
                fl.drain()
                lag = t0 + seconds * (k + 1) / n - time.monotonic()
                if lag > 0:
                    time.sleep(lag)
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            fl.drain()
            time.sleep(0.05)
        return fl

    def gateway_stats(self, env):
        return env.request("status")["gateway"]

    def test_01_flood_refused_other_source_served(self):
        env = self.start_env()
        legit = env.uac_call(NUMBER, hold=1000, name="legit",
                             extra=("-i", CALLER), calls=5, rate=5)
        legit.start()
        fl = self.flood(env, 2000, 2.0)
        res = legit.wait()
        self.assertEqual(res.rc, 0, res.summary())
        self.assertEqual(res.codes("INVITE"), [100, 180, 200],
                         res.summary())
        self.assertEqual(len(res.requests("BYE", "sent")), 5)

        answered, refused = fl.finals(200), fl.finals(503)
        # the burst and 2 s of the rate, at most; every other one a 503
        self.assertGreater(answered, 0)
        self.assertLessEqual(answered, 100 + 50 * 2 + 10)
        st = self.gateway_stats(env)
        lost = udp_drops(env.gw.sip_port)
        self.assertEqual(answered + st["sip_flood_refused"] + lost, 2000,
                         "every INVITE a call or refused (%d dropped by "
                         "the kernel)" % lost)
        self.assertGreater(refused, 1500 - lost, "503s the flooder got")
        self.assertLessEqual(refused, st["sip_flood_refused"])
        self.assertEqual(st["sip_flood_episodes"], 1)
        log = env.gw.run_log()
        self.assertEqual(log.count("flood: %s over its limits" % FLOODER),
                         1, "one log line per episode")

        # the flooder's answered calls end for want of an ACK, freeing
        # their slots and agents; its episode ends
        env.wait_idle(timeout=15)
        rec = [c for c in env.recent() if c["from"] != "+15550001111"]
        self.assertEqual(len(rec), answered)
        self.assertEqual({c["end_reason"] for c in rec}, {"no-ack"})
        self.assertEqual(self.gateway_stats(env)["sip_ack_timeouts"],
                         answered)
        cbtest.wait_for(lambda: self.gateway_stats(env)["flooding"] == [],
                        10, "the episode to end")
        self.assertIn("flood: %s back under its limits" % FLOODER,
                      env.gw.run_log())
        fl.close()

    def test_02_drop_answers_nothing(self):
        env = self.start_env(sip_flood_action="drop",
                             sip_invite_burst=20, sip_invite_rate=10)
        fl = self.flood(env, 300, 0.5)
        answered = fl.finals(200)
        self.assertLessEqual(answered, 20 + 10 + 2)
        self.assertEqual(fl.finals(503), 0)
        self.assertEqual(len(fl.replies), answered,
                         "no answer at all to the refused INVITEs")
        self.assertEqual(self.gateway_stats(env)["sip_flood_refused"],
                         300 - answered - udp_drops(env.gw.sip_port))
        fl.close()

    def test_03_unacked_call_frees_its_slot(self):
        """One INVITE, answered, never ACKed: ended after
        sip_ack_timeout_ms (2 s), its agent stopped; libre's BYE comes
        when it stops retransmitting the 200 OK (32 s)."""
        env = self.start_env()
        uac = Uac(LONER)
        uac.send(env.gw.sip_port, 1)
        t_sent = time.monotonic()
        cbtest.wait_for(lambda: uac.drain() or uac.finals(200), 10,
                        "the 200 OK")
        t200 = min(t for t, c in next(iter(uac.replies.values()))
                   if c == 200)
        env.wait_idle(timeout=10)
        t_idle = time.monotonic()
        self.assertGreaterEqual(t_idle - t200, 2.0 - 0.1)
        rec = env.recent()
        self.assertEqual([c["end_reason"] for c in rec], ["no-ack"])
        conn = env.agents[0].rec.wait_closed(1)[0]
        self.assertEqual(conn.event_names()[-1], "stop")
        self.assertEqual(self.gateway_stats(env)["sip_ack_timeouts"], 1)

        def bye():
            uac.drain()
            return [r for r in uac.requests if r[1].startswith("BYE ")]
        byes = cbtest.wait_for(bye, 45, "libre's BYE", interval=0.2)
        self.assertGreater(byes[0][0] - t_sent, 30.0)
        uac.close()


if __name__ == "__main__":
    callenv.run_tests()
