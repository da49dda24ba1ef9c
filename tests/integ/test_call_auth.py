#!/usr/bin/env python3
"""Inbound digest authentication (RFC 3261 22, RFC 2617), end to end.

A trunk with `inbound.auth_username`/`auth_password` makes every INVITE
for its numbers prove them. SIPp is the carrier: tests/sipp/auth_call.xml
answers challenges with SIPp's own [authentication] (-au/-ap), and
tests/sipp/auth_direct.xml sends an Authorization header the test wrote
(another realm, a nonce the gateway never made, a malformed header).

  - no Authorization: 401 with exactly `WWW-Authenticate: Digest
    realm="callbridge", nonce="<time>.<hmac>", algorithm=MD5, qop="auth"`,
    no call, no agent connection;
  - right credentials: the call proceeds normally (agent, audio both ways
    exact, caller's BYE);
  - wrong user, wrong realm, wrong response (password, method), another
    trunk's credentials: 403, no call;
  - a nonce this process did not make (made up, its time or HMAC changed):
    403;
  - a nonce older than 300 s, or from the future: 401 with stale=true and
    a fresh nonce, which then works; 295 s old still works. The daemon's
    clock is moved by tests/integ/clockshift.c (LD_PRELOAD; its own time()
    calls only), from a file this test rewrites;
  - a trunk without credentials takes calls without a challenge, even
    with an Authorization header, while the others challenge.
"""

import hashlib
import os
import re
import secrets
import tempfile
import time

import callenv
import cbtest
import gensig
import rtpsniff
import sipp

REALM = "callbridge"
USER, PASS = "carrier-7", "s3cret-Pa55"
USER2, PASS2 = "other-carrier", "pw-2-other"
N_AUTH = "+14155558100"
N_AUTH2 = "+14155558101"
N_OPEN = "+14155558102"
TRUNK = {N_AUTH: "t-auth", N_AUTH2: "t-auth2", N_OPEN: "t-open"}
CHALLENGE = re.compile(r'^Digest realm="callbridge", nonce="([0-9a-f]+)'
                       r'\.([0-9a-f]{32})", algorithm=MD5, qop="auth"'
                       r'(, stale=true)?$')


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def digest(user, realm, password, nonce, uri, method="INVITE",
           cnonce="6b8b4567", nc="00000001"):
    """RFC 2617 response with qop=auth."""
    ha1 = md5("%s:%s:%s" % (user, realm, password))
    ha2 = md5("%s:%s" % (method, uri))
    return md5("%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2))


def auth_line(user, realm, nonce, uri, response, cnonce="6b8b4567",
              nc="00000001"):
    return ('Authorization: Digest username="%s", realm="%s", '
            'nonce="%s", uri="%s", response="%s", algorithm=MD5, '
            'cnonce="%s", qop=auth, nc=%s'
            % (user, realm, nonce, uri, response, cnonce, nc))


def clockshift_lib():
    lib = os.environ.get("CB_CLOCKSHIFT_LIB") or os.path.join(
        cbtest.BIN_DIR, "..", "tests", "integ", "libcb_clockshift.so")
    return os.path.normpath(lib) if os.path.exists(lib) else None


class AuthTest(callenv.NothingLeft, callenv.CallTestCase):

    @classmethod
    def setUpClass(cls):
        callenv.require_sipp()
        cls.clock_lib = clockshift_lib()
        fd, cls.clock_file = tempfile.mkstemp(prefix="cb-clockshift-")
        os.close(fd)
        cls.shift(0)
        saved = {k: os.environ.get(k) for k in
                 ("LD_PRELOAD", "CB_CLOCKSHIFT_FILE", "ASAN_OPTIONS")}
        if cls.clock_lib:
            # only the daemon (and the agents it starts with) get the shim
            os.environ["LD_PRELOAD"] = " ".join(
                x for x in (cls.clock_lib, saved["LD_PRELOAD"]) if x)
            os.environ["CB_CLOCKSHIFT_FILE"] = cls.clock_file
            os.environ["ASAN_OPTIONS"] = ":".join(
                x for x in (saved["ASAN_OPTIONS"],
                            "verify_asan_link_order=0") if x)
        try:
            cls.env = callenv.CallEnv(agent_seconds=2.0)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        env = cls.env
        env.agent("auth-agent", "/script/play:all")
        for tid, inbound in (("t-auth", {"auth_username": USER,
                                         "auth_password": PASS}),
                             ("t-auth2", {"auth_username": USER2,
                                          "auth_password": PASS2}),
                             ("t-open", {})):
            env.request("trunks.put", trunk={"id": tid, "kind": "byoc",
                                             "name": tid,
                                             "inbound": inbound})
        for number, tid in TRUNK.items():
            env.number(number, "auth-agent", trunk=tid)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.env.close()
        finally:
            os.unlink(cls.clock_file)

    @classmethod
    def shift(cls, seconds):
        """Move the daemon's clock (its own time() calls) by seconds."""
        tmp = cls.clock_file + ".new"
        with open(tmp, "w") as f:
            f.write("%d\n" % seconds)
        os.replace(tmp, cls.clock_file)

    # -- running SIPp -------------------------------------------------------

    def uri(self, number):
        return "sip:%s@127.0.0.1:%d" % (number, self.env.gw.sip_port)

    def challenge_call(self, number, user, password, gap=200, hold=300,
                       rtp_port=None, name="challenge"):
        """auth_call.xml; the m= port is rtp_port, or SIPp's own media
        port (which it never reads)."""
        w = self.env.workdir(name)
        mp = sipp.free_media_port()
        return self.env.sipp("auth_call.xml", w, keys={
            "number": number, "rtp_port": rtp_port or mp},
            sets={"gap": gap, "hold": hold}, media_port=mp,
            extra=["-au", user, "-ap", password])

    def direct(self, number, hdr, hold=300, name="direct"):
        w = self.env.workdir(name)
        mp = sipp.free_media_port()
        return self.env.sipp("auth_direct.xml", w, keys={
            "number": number, "rtp_port": mp, "hdr": hdr},
            sets={"hold": hold}, media_port=mp).run()

    @staticmethod
    def finals(res):
        """Final answer codes to the INVITEs, in CSeq order."""
        out = []
        for cseq in (1, 2, 3):
            c = res.final("INVITE", cseq=cseq)
            if c is not None:
                out.append(c)
        return out

    def challenge_of(self, m):
        """The one WWW-Authenticate of a 401, checked to the letter:
        (nonce time [s], nonce, stale)."""
        self.assertEqual(m.code, 401)
        hdrs = m.header_all("www-authenticate")
        self.assertEqual(len(hdrs), 1, m.text)
        g = CHALLENGE.match(hdrs[0])
        self.assertIsNotNone(g, "WWW-Authenticate: %s" % hdrs[0])
        self.assertRegex(m.header("to"), r";tag=", "401 with a To tag")
        self.assertEqual(m.header("content-length"), "0")
        return int(g.group(1), 16), "%s.%s" % g.group(1, 2), \
            bool(g.group(3))

    def challenges(self, res, once=False):
        """The 401s' challenges (challenge_of), in order. With once: each
        INVITE got its 401 exactly once, so the ACK (same branch) ended
        the gateway's retransmissions."""
        got = res.received(lambda m: m.code == 401 and
                           m.cseq_method == "INVITE")
        if once:
            cseqs = [m.cseq for m in got]
            self.assertEqual(len(cseqs), len(set(cseqs)),
                             "401 retransmitted: ACK not matched")
        return [self.challenge_of(m) for m in got]

    def new_calls(self, number, before):
        return [c for c in self.env.recent() if c["number"] == number and
                c["call_sid"] not in before]

    # -- the tests ----------------------------------------------------------

    def test_01_no_credentials_401(self):
        """No Authorization: 401 with the challenge; no call, no agent."""
        env = self.env
        nconn = len(env.agents[0].rec.conns())
        before = {c["call_sid"] for c in env.recent()}
        res = self.direct(N_AUTH, "X-Carrier: no credentials")
        self.assertEqual(res.rc, 0, res.summary())
        self.assertEqual(self.finals(res), [401], res.summary())
        t, nonce, stale = self.challenge_of(res.final_msg("INVITE"))
        self.assertFalse(stale)
        self.assertLess(abs(t - time.time()), 60, "nonce time is now")
        env.wait_idle()
        self.assertEqual(self.new_calls(N_AUTH, before), [])
        self.assertEqual(len(env.agents[0].rec.conns()), nconn,
                         "no agent connection for a challenged INVITE")
        # a second challenge has its own nonce only if time moved: the
        # nonce is time + HMAC, the same within a second
        res2 = self.direct(N_AUTH, "X-Carrier: again")
        t2, nonce2, _ = self.challenge_of(res2.final_msg("INVITE"))
        if t2 == t:
            self.assertEqual(nonce2, nonce)
        else:
            self.assertNotEqual(nonce2[nonce2.index("."):],
                                nonce[nonce.index("."):])

    def test_02_sipp_answers_the_challenge(self):
        env = self.env
        cases = [
            # name, number, user, password, final answers per CSeq
            ("right", N_AUTH, USER, PASS, [401, 200]),
            ("wrong-password", N_AUTH, USER, PASS + "x", [401, 403]),
            ("wrong-user", N_AUTH, "mallory", PASS, [401, 403]),
            ("user-case", N_AUTH, USER.upper(), PASS, [401, 403]),
            ("other-trunks-credentials", N_AUTH2, USER, PASS, [401, 403]),
            ("its-own-credentials", N_AUTH2, USER2, PASS2, [401, 200]),
            ("open-trunk", N_OPEN, USER, PASS, [200]),
        ]
        for name, number, user, pw, want in cases:
            with self.subTest(case=name):
                nconn = len(env.agents[0].rec.conns())
                before = {c["call_sid"] for c in env.recent()}
                res = self.challenge_call(number, user, pw,
                                          name=name).run()
                self.assertEqual(res.rc, 0, res.summary())
                self.assertEqual(self.finals(res), want, res.summary())
                for _, _, stale in self.challenges(res):
                    self.assertFalse(stale)
                env.wait_idle()
                calls = self.new_calls(number, before)
                if want[-1] != 200:
                    self.assertEqual(calls, [])
                    self.assertEqual(len(env.agents[0].rec.conns()),
                                     nconn)
                    continue
                self.assertEqual(len(calls), 1, calls)
                self.assertEqual(calls[0]["trunk_id"], TRUNK[number])
                self.assertEqual(calls[0]["end_reason"], "caller-bye")
                conns = env.agents[0].rec.wait_closed(nconn + 1)
                self.assertEqual(len(conns), nconn + 1)
                self.assertEqual(conns[-1].custom_parameters["trunk_id"],
                                 TRUNK[number])
        env.take_baseline()

    def test_03_authenticated_call_proceeds_normally(self):
        """Right credentials: audio both ways, exactly, and the caller's
        BYE ends it."""
        env = self.env
        sig = gensig.generate("frames", "ulaw", 2.0, seed=71)
        nconn = len(env.agents[0].rec.conns())
        with rtpsniff.RtpHub() as hub:
            ep = hub.endpoint()
            run = self.challenge_call(N_AUTH, USER, PASS, hold=3000,
                                      rtp_port=ep.port,
                                      name="proceeds").start()
            ok = run.wait_message(lambda m: m.dir == "recv" and
                                  m.code == 200 and m.cseq == 2 and
                                  m.cseq_method == "INVITE", 20,
                                  "200 to the authenticated INVITE")
            port = int(ok.body.split("m=audio ")[1].split()[0])
            ep.play(("127.0.0.1", port), sig, ssrc=0xA117)
            res = run.wait()
            pkts = ep.rtp()
        self.assertEqual(res.rc, 0, res.summary())
        self.assertEqual(self.finals(res), [401, 200])
        self.assertEqual(res.final("BYE", cseq=3), 200)
        self.assertEqual(len(self.challenges(res, once=True)), 1)
        env.wait_idle()
        conn = env.agents[0].rec.wait_closed(nconn + 1)[-1]
        rep = gensig.check_frames(sig, conn.inbound_audio)
        self.assertTrue(rep.exact, "carrier -> agent: %s" % rep)
        rep = gensig.check_frames(env.agent_signals[0],
                                  rtpsniff.payload_audio(pkts))
        self.assertTrue(rep.exact, "agent -> carrier: %s" % rep)
        rec = env.recent_call(conn.start["start"]["callSid"])
        self.assertEqual(rec["end_reason"], "caller-bye")

    def test_04_written_credentials(self):
        """Authorization headers the test wrote, on a nonce of the
        gateway's (stateless: valid for any INVITE within 300 s)."""
        env = self.env
        res = self.direct(N_AUTH, "X-Carrier: want a nonce")
        t, nonce, _ = self.challenge_of(res.final_msg("INVITE"))
        ts, mac = nonce.split(".")
        uri = self.uri(N_AUTH)

        def line(user=USER, realm=REALM, pw=PASS, n=nonce, method="INVITE",
                 hdr_realm=None, hdr_user=None, duri=None):
            r = digest(user, realm, pw, n, duri or uri, method)
            return auth_line(hdr_user or user, hdr_realm or realm, n,
                             duri or uri, r)

        host_only = "sip:%s" % uri.split("@", 1)[1] if "@" in uri else uri
        other_number = uri.replace(N_AUTH, N_AUTH2) if N_AUTH in uri \
            else "sip:+19995550100@127.0.0.1"

        other_mac = secrets.token_hex(16)
        flipped = mac[:-1] + ("0" if mac[-1] != "0" else "1")
        cases = [
            # name, header line, number, answer
            ("right", line(), N_AUTH, 200),
            ("right-again", line(), N_AUTH, 200),
            # the digest uri: this Request-URI, or host only (as SIPp
            # signs); signed for another number it is refused
            ("uri-host-only", line(duri=host_only), N_AUTH, 200),
            ("uri-other-number", line(duri=other_number), N_AUTH, 403),
            ("realm-other-response-ours",
             line(hdr_realm="elsewhere"), N_AUTH, 403),
            ("realm-other-response-theirs",
             line(realm="elsewhere"), N_AUTH, 403),
            ("user-other", line(user="mallory"), N_AUTH, 403),
            ("user-other-response-ours", line(hdr_user="mallory"),
             N_AUTH, 403),
            ("wrong-password", line(pw="guess"), N_AUTH, 403),
            ("response-for-register", line(method="REGISTER"), N_AUTH,
             403),
            ("other-trunk", line(), N_AUTH2, 403),
            ("nonce-made-up", line(n="%s.%s" % (ts, other_mac)), N_AUTH,
             403),
            ("nonce-time-changed",
             line(n="%x.%s" % (int(ts, 16) - 1, mac)), N_AUTH, 403),
            ("nonce-mac-changed", line(n="%s.%s" % (ts, flipped)),
             N_AUTH, 403),
            ("nonce-mac-short", line(n="%s.%s" % (ts, mac[:-2])),
             N_AUTH, 403),
            ("nonce-no-dot", line(n=ts + mac), N_AUTH, 403),
            ("nonce-word", line(n="callbridge"), N_AUTH, 403),
            ("open-trunk-ignores-it", line(user="anyone", pw="x"), N_OPEN,
             200),
            ("basic", "Authorization: Basic Y2Fycmllci03OnMzY3JldA==",
             N_AUTH, 401),
            ("digest-nothing", "Authorization: Digest", N_AUTH, 401),
        ]
        for name, hdr, number, code in cases:
            with self.subTest(case=name):
                before = {c["call_sid"] for c in env.recent()}
                res = self.direct(number, hdr, name=name)
                self.assertEqual(res.rc, 0, res.summary())
                self.assertEqual(self.finals(res), [code], "%s: %s"
                                 % (hdr, res.summary()))
                env.wait_idle()
                self.assertEqual(len(self.new_calls(number, before)),
                                 1 if code == 200 else 0)
                if code == 401:
                    self.assertFalse(self.challenge_of(
                        res.final_msg("INVITE"))[2])
        self.assertTrue(self.env.gw.alive())

    def test_05_stale_nonces(self):
        """Nonces from another time: 401 stale=true with a fresh nonce
        that then works; within 300 s they still work."""
        if not self.clock_lib:
            self.skipTest("libcb_clockshift.so not built")
        cases = [
            # name, daemon clock offset when the nonce is made [s],
            # password, final answers per CSeq
            ("305-s-old", -305, PASS, [401, 401, 200]),
            ("an-hour-old", -3600, PASS, [401, 401, 200]),
            ("from-the-future", 400, PASS, [401, 401, 200]),
            ("295-s-old", -295, PASS, [401, 200]),
            # stale=true only for right credentials (RFC 2617 3.2.1)
            ("305-s-old-wrong-password", -305, "guess", [401, 403]),
        ]
        env = self.env
        for name, offset, pw, want in cases:
            with self.subTest(case=name):
                self.shift(offset)
                try:
                    run = self.challenge_call(N_AUTH, USER, pw, gap=1500,
                                              name=name).start()
                    run.wait_message(lambda m: m.dir == "recv" and
                                     m.code == 401 and m.cseq == 1, 20,
                                     "the first challenge")
                finally:
                    self.shift(0)
                res = run.wait()
                self.assertEqual(res.rc, 0, res.summary())
                self.assertEqual(self.finals(res), want, res.summary())
                ch = self.challenges(res, once=True)
                self.assertEqual(len(ch), want.count(401))
                t0, n0, stale0 = ch[0]
                self.assertFalse(stale0)
                self.assertLess(abs(t0 - (time.time() + offset)), 30,
                                "the first nonce has the shifted time")
                if len(ch) > 1:
                    t1, n1, stale1 = ch[1]
                    self.assertTrue(stale1, "stale=true")
                    self.assertNotEqual(n1, n0)
                    self.assertLess(abs(t1 - time.time()), 30)
                env.wait_idle()


if __name__ == "__main__":
    callenv.run_tests()
