#!/usr/bin/env python3
"""Issue 3, the life of a call with real peers (SIPp carrier,
cb-test-agent or a slow WebSocket agent, RTP recorded on loopback):

  - 100 Trying, then 180 Ringing while the agent is reached, then 200 OK
    only after the agent's WebSocket upgrade and `start`;
  - CANCEL before the answer: 487, the agent's connection is closed, no
    call stays behind;
  - CANCEL that crosses the 200 (RFC 5407): the call goes on and ends by
    BYE, exactly once;
  - BYE from the gateway when the agent closes the WebSocket or drops the
    connection;
  - re-INVITE hold (a=sendonly, a=inactive, c=0.0.0.0) stops the
    gateway's RTP, unhold resumes it, the call stays up and the caller's
    audio keeps reaching the agent; a re-INVITE with the stream at port 0
    is answered with port 0 (RFC 3264 8.2) and stops RTP too;
  - a re-INVITE that moves the caller's media address moves the gateway's
    RTP there;
  - INVITE without SDP: the gateway offers in the 200, takes the answer in
    the ACK, and audio flows both ways;
  - SIP INFO application/dtmf-relay reaches the agent as `dtmf`;
  - X-Twilio-Signature on the upgrade for an agent with an auth_token;
  - CANCELs racing the answer in both orders end each call exactly once.
"""

import base64
import hashlib
import hmac
import os
import re
import socket
import sys
import time

import agentlog
import callenv
import cbtest
import gensig
import rtpsniff
import sipp

N_FAST = "+14155550201"
N_SLOW = "+14155550202"
N_HANG = "+14155550203"
N_CLOSE = "+14155550204"
N_DROP = "+14155550205"
N_SIGNED = "+14155550206"
N_PLAIN = "+14155550207"
SLOW_S = 0.4
TOKEN = "s3cr3t-auth-token"


class FlowTest(callenv.NothingLeft, callenv.CallTestCase):

    @classmethod
    def setUpClass(cls):
        callenv.require_sipp(pcap=True)
        cls.env = env = callenv.CallEnv(agent_seconds=4.0)
        cls.slow = callenv.PyAgent(delay=SLOW_S)
        env.agent("fast", "/script/play:all")
        env.request("agents.put", agent={"id": "slow",
                                         "url": cls.slow.url("/slow")})
        env.agent("hang", "/hang")
        env.agent("closer", "/script/play:300,wait:700,close")
        env.agent("dropper", "/script/play:300,wait:700,drop")
        cls.signed_url = env.agent("signed", "/record?who=signed&y=%2F",
                                   auth_token=TOKEN)
        env.agent("plain", "/record?who=plain")
        env.number(N_FAST, "fast")
        env.number(N_SLOW, "slow")
        env.number(N_HANG, "hang")
        env.number(N_CLOSE, "closer")
        env.number(N_DROP, "dropper")
        env.number(N_SIGNED, "signed")
        env.number(N_PLAIN, "plain")

    @classmethod
    def tearDownClass(cls):
        try:
            cls.env.close()
        finally:
            cls.slow.close()

    # -- helpers -----------------------------------------------------------

    @property
    def rec(self):
        return self.env.agents[0].rec

    def new_conns(self, before, count, path=None, timeout=10):
        """Wait (bounded) for `count` agent connections after the first
        `before` ones to end; returns them."""
        names = {c.name for c in self.rec.conns()[:before]}
        return self.rec.wait_closed(count, timeout=timeout, path=path,
                                    where=lambda c: c.name not in names)[:count]

    def basic_call(self, number, hold=300, seconds=0.4, name="call"):
        return self.env.uac_call(number, hold, seconds, seed=21,
                                 name=name).run()

    def ended_once(self, reason, before):
        """Exactly one call ended since `before` (set of call SIDs), for
        `reason`; returns it."""
        self.env.wait_idle()
        new = [c for c in self.env.recent() if c["call_sid"] not in before]
        self.assertEqual([c["end_reason"] for c in new], [reason])
        return new[0]

    def sids(self):
        return {c["call_sid"] for c in self.env.recent()}

    # -- answer ------------------------------------------------------------

    def test_01_trying_ringing_then_answer_after_start(self):
        before = self.sids()
        res = self.basic_call(N_SLOW)
        self.assertEqual(res.rc, 0, res.summary())
        ours = [c for c in self.slow.conns if c["t_101"]]
        self.assertEqual(len(ours), 1)
        up = ours[0]
        cbtest.wait_for(lambda: up["closed"], 10, "agent connection end")
        ev = self.slow.texts(up)
        self.assertEqual([e["event"] for _, e in ev[:2]],
                         ["connected", "start"])
        t_180 = res.responses("INVITE")[0].t
        t_200 = res.final_msg("INVITE").t
        t_inv = res.requests("INVITE", "sent")[0].t
        self.assertLess(t_180, up["t_101"], "180 while the agent is reached")
        self.assertGreater(t_200, up["t_101"], "200 only after the upgrade")
        self.assertGreaterEqual(t_200 - t_inv, SLOW_S)
        self.ended_once("caller-bye", before)
        self.env.take_baseline()
        # 100 Trying at once, then 180 Ringing, then 200 OK
        self.assertEqual(res.codes("INVITE"), [100, 180, 200])

    # -- CANCEL ------------------------------------------------------------

    def test_02_cancel_before_answer(self):
        env = self.env
        before, n = self.sids(), len(self.rec.conns())
        w = env.workdir("cancel")
        res = env.sipp("uac_cancel.xml", w, keys={"number": N_HANG},
                       sets={"delay": 300}).run()
        self.assertEqual(res.rc, 0, res.summary())
        self.assertNotIn(200, res.codes("INVITE"))
        self.assertEqual(res.final("INVITE"), 487)
        self.assertEqual(res.final("CANCEL"), 200)
        self.ended_once("caller-cancel", before)
        self.assertEqual(env.calls(), [])
        # the agent's connection is closed at once (bounded wait)
        conn = self.new_conns(n, 1, path="/hang", timeout=5)[0]
        self.assertFalse(conn.opened)

    def test_03_cancel_crossing_200(self):
        env = self.env
        before, n = self.sids(), len(self.rec.conns())
        w = env.workdir("cancel-late")
        env.pcap(w, "ulaw", 0.8, seed=26)
        res = env.sipp("uac_cancel_late.xml", w, keys={"number": N_FAST},
                       sets={"hold": 800}).run()
        self.assertEqual(res.rc, 0, res.summary())
        self.assertEqual(res.final("INVITE"), 200)
        self.assertNotIn(487, res.codes("INVITE"))
        self.assertIn(res.final("CANCEL"), (200, 481))
        self.assertEqual(res.final("BYE"), 200)
        self.assertEqual(res.requests("BYE", "recv"), [],
                         "the gateway did not hang up itself")
        self.ended_once("caller-bye", before)
        conn = self.new_conns(n, 1)[0]
        self.assertEqual(agentlog.check_twilio_stream(conn), [])
        self.assertEqual(conn.event_names().count("stop"), 1)
        self.assertGreater(len(conn.events(name="media")), 30,
                           "the call went on after the CANCEL")

    # -- the gateway hangs up --------------------------------------------

    def wait_bye(self, number, reasons, name):
        env = self.env
        before, n = self.sids(), len(self.rec.conns())
        w = env.workdir(name)
        env.pcap(w, "ulaw", 2.0, seed=22)
        res = env.sipp("uac_wait_bye.xml", w, timeout=20,
                       keys={"number": number, "fmt": "0 101"}).run()
        self.assertEqual(res.rc, 0, res.summary())
        byes = res.requests("BYE", "recv")
        self.assertEqual(len(byes), 1, "one BYE: %s" % res.summary())
        self.env.wait_idle()
        new = [c for c in env.recent() if c["call_sid"] not in before]
        self.assertEqual(len(new), 1)
        self.assertIn(new[0]["end_reason"], reasons)
        return res, self.new_conns(n, 1)[0]

    def test_04_agent_closes_gateway_sends_bye(self):
        res, conn = self.wait_bye(N_CLOSE, ("agent-closed",), "close")
        self.assertEqual(conn.agent_close, 1000)
        t_close = next(r["t_us"] for r in conn.records
                       if r["ev"] == "close") / 1e6
        self.assertGreater(res.requests("BYE", "recv")[0].t, t_close)

    def test_05_agent_drops_gateway_sends_bye(self):
        self.wait_bye(N_DROP, ("agent-closed", "agent-failed"), "drop")

    # -- re-INVITE ---------------------------------------------------------

    def hold_unhold(self, hold_dir, hold_ip, talk=800, hold=800, talk2=800,
                    port0=False):
        env = self.env
        before, n = self.sids(), len(self.rec.conns())
        w = env.workdir("hold-" + hold_dir + ("-port0" if port0 else ""))
        ref = env.pcap(w, "ulaw", (talk + hold + talk2) / 1000.0 - 0.2,
                       seed=23)
        mport = sipp.free_media_port()
        run = env.sipp("uac_hold.xml", w, keys={
            "number": N_FAST, "fmt": "0 101", "hold_dir": hold_dir,
            "hold_ip": hold_ip, "hold_port": 0 if port0 else mport},
            sets={"talk": talk, "hold": hold, "talk2": talk2},
            media_port=mport)
        with rtpsniff.Sniffer(run.media_port) as sn:
            res = run.run()
        self.assertEqual(res.rc, 0, res.summary())
        for cseq in (1, 2, 3):
            self.assertEqual(res.final("INVITE", cseq), 200)
        ans_hold = res.final_msg("INVITE", 2).body
        ans_unhold = res.final_msg("INVITE", 3).body
        want = {"sendonly": "a=recvonly", "inactive": "a=inactive",
                "sendrecv": "a=sendrecv"}[hold_dir]
        if port0:
            self.assertRegex(ans_hold, r"(?m)^m=audio 0 RTP/AVP ")
        elif hold_ip != "0.0.0.0":
            self.assertIn(want, ans_hold)
        self.assertRegex(ans_unhold, r"(?m)^m=audio [1-9][0-9]* RTP/AVP ")
        self.assertNotIn("a=recvonly", ans_unhold)
        self.assertNotIn("a=inactive", ans_unhold)

        t_hold = res.final_msg("INVITE", 2).t
        t_unhold_sent = res.requests("INVITE", "sent")[2].t
        t_unhold = res.final_msg("INVITE", 3).t
        t_bye = res.requests("BYE", "sent")[0].t
        during = sn.rtp(since=t_hold + 0.05, until=t_unhold_sent)
        self.assertEqual(during, [], "no RTP while on hold")
        after = sn.rtp(since=t_unhold + 0.05, until=t_bye)
        self.assertTrue(after, "no RTP after unhold")
        # resumes at once, and at 50/s: the rate over the packets' own
        # (kernel) times, not SIPp's, which a busy host holds up; a
        # worker held up more than 3 ticks skips them (the timestamp
        # jumps where the packet came that late: rtpsniff skips())
        rep = rtpsniff.rtp_report(after)
        self.assertEqual(rep.problems(pt=0, skips=True), [])
        skipped = sum(rep.ts_steps[i] // 160 - 1 for i in rep.skips())
        self.assertLess(after[0].t - t_unhold, 0.25, "RTP resumes")
        self.assertLess(t_bye - after[-1].t, 0.25, "RTP until the BYE")
        self.assertAlmostEqual(len(after) - 1 + skipped,
                               (after[-1].t - after[0].t) / 0.02,
                               delta=2, msg="RTP resumes at 50/s")

        rec = self.ended_once("caller-bye", before)
        conn = self.new_conns(n, 1)[0]
        self.assertEqual(agentlog.check_twilio_stream(conn), [])
        self.assertEqual(conn.event_names().count("start"), 1)
        return conn, ref, rec

    def test_06_hold_sendonly_unhold(self):
        conn, ref, rec = self.hold_unhold("sendonly", "127.0.0.1")
        # a caller on hold still sends (music on hold): the agent hears
        # all of it, in order, once (as far as a busy host lets it)
        rep = gensig.check_frames(ref, conn.inbound_audio)
        self.assert_frames_heard(rep, rec["stats"])

    def test_07_hold_inactive_unhold(self):
        self.hold_unhold("inactive", "127.0.0.1", talk=600, hold=600,
                         talk2=600)

    def test_08_hold_rfc2543_unhold(self):
        self.hold_unhold("sendrecv", "0.0.0.0", talk=600, hold=600,
                         talk2=600)

    def test_08b_hold_port0_unhold(self):
        # RFC 3264 8.2: the stream at port 0 is answered with port 0,
        # not 488, and the gateway's RTP stops until the unhold
        self.hold_unhold("sendrecv", "127.0.0.1", talk=600, hold=600,
                         talk2=600, port0=True)

    def test_09_reinvite_moves_media(self):
        env = self.env
        before, n = self.sids(), len(self.rec.conns())
        w = env.workdir("move")
        sig1 = gensig.generate("frames", "ulaw", 1.0, seed=31)
        sig2 = gensig.generate("frames", "ulaw", 1.0, seed=32)
        with rtpsniff.RtpHub() as hub:
            a, b = hub.endpoint(), hub.endpoint("127.0.0.2")
            run = env.sipp("uac_move.xml", w, keys={
                "number": N_FAST, "fmt": "0 101", "ip_a": a.host,
                "port_a": a.port, "ip_b": b.host, "port_b": b.port},
                sets={"talk": 1200, "talk2": 1400})
            run.start()
            ok = run.wait_message(lambda m: m.code == 200 and
                                  m.cseq == 1, 10, "200 OK")
            gw_media = ("127.0.0.1", int(
                ok.body.split("m=audio ")[1].split()[0]))
            seq, ts, t_end = a.play(gw_media, sig1)
            moved = run.wait_message(lambda m: m.code == 200 and
                                     m.cseq == 2, 10, "200 to the move")
            t_moved = moved.t
            # the caller's clock ran on while it moved
            now = time.monotonic()
            b.play(gw_media, sig2, seq=seq, start=now,
                   ts=ts + 8 * int((now - t_end) * 1000), marker=False)
            res = run.wait()
        self.assertEqual(res.rc, 0, res.summary())
        t_bye = res.requests("BYE", "sent")[0].t
        self.assertGreater(len(a.rtp(until=t_moved)), 40,
                           "RTP to the first address before the move")
        self.assertEqual(a.rtp(since=t_moved + 0.05), [],
                         "no RTP to the old address after the move")
        after = b.rtp(since=t_moved + 0.05, until=t_bye)
        self.assertAlmostEqual(len(after), (t_bye - t_moved) / 0.02,
                               delta=5, msg="RTP to the new address")
        self.ended_once("caller-bye", before)
        conn = self.new_conns(n, 1)[0]
        self.assertEqual(agentlog.check_twilio_stream(conn), [])
        # the agent hears all of the caller before and after the move
        for sig in (sig1, sig2):
            rep = gensig.check_frames(sig, conn.inbound_audio)
            self.assertTrue(rep.exact, str(rep))

    def test_10_invite_without_sdp(self):
        env = self.env
        before, n = self.sids(), len(self.rec.conns())
        w = env.workdir("nosdp")
        ref = env.pcap(w, "alaw", 2.0, seed=24)
        run = env.sipp("uac_nosdp.xml", w, keys={"number": N_FAST,
                                                 "fmt": "8 101"},
                       sets={"hold": 2500})
        with rtpsniff.Sniffer(run.media_port) as sn:
            res = run.run()
        self.assertEqual(res.rc, 0, res.summary())
        offer = res.final_msg("INVITE")
        self.assertEqual(offer.header("Content-Type"), "application/sdp")
        mline = [l for l in offer.body.splitlines()
                 if l.startswith("m=audio")][0].split()
        self.assertTrue({"0", "8"} <= set(mline[3:]), mline)
        self.assertIn("telephone-event/8000", offer.body)
        self.ended_once("caller-bye", before)
        conn = self.new_conns(n, 1)[0]
        self.assertEqual(agentlog.check_twilio_stream(conn), [])
        rep = gensig.check_frames(callenv.to_agent("alaw", ref),
                                  conn.inbound_audio)
        self.assertTrue(rep.exact, "carrier -> agent: %s" % rep)
        pk = sn.rtp()
        self.assertEqual(rtpsniff.rtp_report(pk).problems(pt=8), [])
        fr = gensig.check_frames(
            callenv.to_carrier("alaw", self.env.agent_signals[0][:16000]),
            rtpsniff.payload_audio(pk))
        self.assertTrue(fr.contiguous and fr.first == 0 and
                        fr.matched >= 100, "agent -> carrier: %s" % fr)

    # -- in-dialog requests and the upgrade -------------------------------

    def test_14_info_dtmf_relay(self):
        """Last: an INFO has crashed the daemon (see the report)."""
        env = self.env
        before, n = self.sids(), len(self.rec.conns())
        w = env.workdir("info")
        env.pcap(w, "ulaw", 1.0, seed=25)
        res = env.sipp("uac_info.xml", w, keys={
            "number": N_FAST, "d1": "1", "d2": "#", "d3": "d"},
            sets={"hold": 300}).run()
        self.assertEqual(res.rc, 0, res.summary())
        call = self.ended_once("caller-bye", before)
        self.assertEqual(call["stats"]["dtmf_rx"], 3)
        conn = self.new_conns(n, 1)[0]
        self.assertEqual(agentlog.check_twilio_stream(conn), [])
        self.assertEqual(conn.dtmf_digits(), ["1", "#", "D"])

    def test_12_twilio_signature(self):
        n = len(self.rec.conns())
        res = self.basic_call(N_SIGNED)
        self.assertEqual(res.final("INVITE"), 200, res.summary())
        res = self.basic_call(N_PLAIN)
        self.assertEqual(res.final("INVITE"), 200, res.summary())
        conns = self.new_conns(n, 2)
        signed = [c for c in conns if c.query.startswith("who=signed")][0]
        plain = [c for c in conns if c.query == "who=plain"][0]
        self.assertEqual(signed.target, "/record?who=signed&y=%2F")
        want = base64.b64encode(hmac.new(TOKEN.encode(),
                                         self.signed_url.encode(),
                                         hashlib.sha1).digest()).decode()
        self.assertEqual(signed.header_all("X-Twilio-Signature"), [want])
        self.assertEqual(plain.header_all("X-Twilio-Signature"), [])

    def test_13_cancel_racing_the_answer(self):
        """CANCELs sent around the moment the (slow) agent is ready, so
        that CANCEL and 200 cross in either order: each call ends exactly
        once, by 487 or by ACK + BYE, and nothing stays behind. The caller
        here is a minimal UAC in Python: SIPp cannot branch on which of
        the two won."""
        env = self.env
        before = self.sids()
        outcomes = []
        uac = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        uac.bind(("127.0.0.1", 0))
        lport = uac.getsockname()[1]
        gw = ("127.0.0.1", env.gw.sip_port)
        try:
            for i in range(11):
                delay = SLOW_S - 0.010 + 0.002 * i
                outcomes.append(self.race_once(uac, lport, gw, i, delay))
        finally:
            uac.close()
        env.wait_idle()
        new = [c for c in env.recent() if c["call_sid"] not in before]
        self.assertEqual(len(new), len(outcomes), "one end per call")
        self.assertEqual(sorted(c["end_reason"] for c in new),
                         sorted("caller-cancel" if o == 487 else
                                "caller-bye" for o in outcomes))
        sys.stderr.write("CANCEL race outcomes: %s\n" % outcomes)

    def race_once(self, uac, lport, gw, i, delay):
        cid = "race-%d-%d@cbtest" % (i, os.getpid())
        via = "SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-race-%d-%d;rport" \
            % (lport, i, os.getpid())
        hdr = ("From: <sip:+15550001111@127.0.0.1>;tag=ft%d\r\n"
               "Call-ID: %s\r\nMax-Forwards: 70\r\n" % (i, cid))
        ruri = "sip:%s@127.0.0.1:%d" % (N_SLOW, gw[1])
        to = "To: <sip:%s@127.0.0.1>" % N_SLOW
        sdp = ("v=0\r\no=r 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
               "c=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               "m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")

        def send(first, via_, to_, cseq, extra="", body=""):
            msg = ("%s\r\nVia: %s\r\n%s%s\r\nCSeq: %s\r\n%s"
                   "Content-Length: %d\r\n\r\n%s"
                   % (first, via_, hdr, to_, cseq, extra, len(body), body))
            uac.sendto(msg.encode(), gw)

        def recv_until(pred, timeout):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                uac.settimeout(max(0.001, deadline - time.monotonic()))
                try:
                    data = uac.recv(65535).decode(errors="replace")
                except socket.timeout:
                    break
                if cid in data and pred(data):
                    return data
            return None

        t0 = time.monotonic()
        send("INVITE %s SIP/2.0" % ruri, via, to, "1 INVITE",
             "Contact: <sip:uac@127.0.0.1:%d>\r\n"
             "Content-Type: application/sdp\r\n" % lport, sdp)
        time.sleep(max(0.0, t0 + delay - time.monotonic()))
        send("CANCEL %s SIP/2.0" % ruri, via, to, "1 CANCEL")
        final = recv_until(lambda d: re.match(r"SIP/2\.0 (200|487) ", d)
                           and "INVITE" in d.split("CSeq:")[1]
                           .split("\r\n")[0], 5)
        self.assertIsNotNone(final, "no final answer to INVITE %d" % i)
        code = int(final[8:11])
        to_tag = re.search(r"(?im)^To:.*$", final).group(0)
        if code == 487:
            send("ACK %s SIP/2.0" % ruri, via, to_tag, "1 ACK")
            return 487
        contact = re.search(r"(?im)^Contact:\s*<([^>]+)>", final).group(1)
        send("ACK %s SIP/2.0" % contact, via.replace("race", "ack"),
             to_tag, "1 ACK")
        send("BYE %s SIP/2.0" % contact, via.replace("race", "bye"),
             to_tag, "2 BYE")
        ok = recv_until(lambda d: d.startswith("SIP/2.0 200") and
                        "2 BYE" in d, 5)
        self.assertIsNotNone(ok, "BYE %d answered" % i)
        return 200

    def test_15_cli_views_of_a_live_call(self):
        """callbridgectl's call views with a real call: `calls list`
        shows it (SID, number, caller, agent, codec, state), `calls get`
        prints its whole record with media statistics, and once it has
        ended `calls recent` shows it with why it ended."""
        import json
        env = self.env
        run = env.uac_call(N_FAST, 2500, seconds=1.0, seed=24,
                           name="cli").start()
        live = cbtest.wait_for(
            lambda: [c for c in env.calls() if c["number"] == N_FAST and
                     c["state"] == "answered"],
            10, "the call answered")
        sid = live[0]["call_sid"]

        res = env.gw.cli("calls", "list")
        self.assertEqual(res.returncode, 0, res.stderr)
        rows = [r.split() for r in res.stdout.splitlines()]
        self.assertEqual(rows[0][:2], ["Call", "SID"])
        mine = [r for r in rows if r and r[0] == sid]
        self.assertEqual(len(mine), 1, res.stdout)
        self.assertEqual(mine[0][1:5], [N_FAST, "+15550001111", "fast",
                                        "PCMU"])
        self.assertEqual(mine[0][5], "answered")

        res = env.gw.cli("calls", "get", sid)
        self.assertEqual(res.returncode, 0, res.stderr)
        call = json.loads(res.stdout)
        self.assertEqual(call["call_sid"], sid)
        self.assertIn("jitter_buffer", call["stats"])

        res = run.wait()
        self.assertEqual(res.rc, 0, res.summary())
        env.wait_idle()
        res = env.gw.cli("calls", "recent")
        self.assertEqual(res.returncode, 0, res.stderr)
        mine = [r.split() for r in res.stdout.splitlines()
                if r.startswith(sid)]
        self.assertEqual(len(mine), 1, res.stdout)
        self.assertEqual(mine[0][5], "caller-bye")
        self.assertGreaterEqual(int(mine[0][6]), 2)


if __name__ == "__main__":
    callenv.run_tests()
