#!/usr/bin/env python3
"""Agents over wss://: TLS to the agent, with the certificate checked.

Production agents sit behind TLS, so the agent link must verify what it
connects to. A test CA and certificates are made here with the openssl
command; the gateway trusts only that CA (`agent_tls_ca`). The agent is
callenv.PyAgent serving TLS (Python's ssl module), the carrier SIPp.

  - a call to an agent whose certificate chains to the CA and names the
    URL's host is answered, and the agent gets the whole Twilio stream
    (connected, start, media, stop) over TLS, with Host naming the URL's
    host and port;
  - an agent whose certificate is self-signed (not from the CA) is not
    trusted: 503 with Retry-After, end reason agent-failed, and the agent
    saw the handshake fail;
  - an agent whose certificate is from the CA but names another host
    (URL wss://127.0.0.1, certificate for localhost only) is refused the
    same way;
  - nothing is left behind (fds and threads back to the baseline);
  - without agent_tls_ca the system's store is used: a gateway started
    with SSL_CERT_FILE (OpenSSL's default-store override) naming the test
    CA takes the call; one started without it refuses the same agent
    (the test CA is in no system store).
"""

import os
import ssl
import subprocess

import callenv
import cbtest

N_GOOD = "+14155550601"
N_SELF = "+14155550602"
N_NAME = "+14155550603"


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=60)


def make_pki(d):
    """CA, a server certificate from it for DNS:localhost, and a
    self-signed certificate for localhost and 127.0.0.1; returns paths."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=callbridge test CA", "-keyout", "ca.key",
            "-out", "ca.pem", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", "srv.key", "-out", "srv.csr", cwd=d)
    with open(os.path.join(d, "srv.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost\n")
    openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey",
            "ca.key", "-CAcreateserial", "-days", "2", "-extfile",
            "srv.ext", "-out", "srv.pem", cwd=d)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", "self.key", "-out", "self.pem", cwd=d)
    return {k: os.path.join(d, k) for k in
            ("ca.pem", "srv.pem", "srv.key", "self.pem", "self.key")}


def server_ctx(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


class TlsTest(callenv.NothingLeft, callenv.CallTestCase):

    @classmethod
    def setUpClass(cls):
        callenv.require_sipp()
        import tempfile
        cls.pki_dir = tempfile.mkdtemp(prefix="cb-tls-")
        pki = make_pki(cls.pki_dir)
        cls.good = callenv.PyAgent(tls=server_ctx(pki["srv.pem"],
                                                  pki["srv.key"]))
        cls.selfsigned = callenv.PyAgent(tls=server_ctx(pki["self.pem"],
                                                        pki["self.key"]))
        cls.env = env = callenv.CallEnv(
            settings={"agent_tls_ca": pki["ca.pem"]})
        for aid, url in (("good", cls.good.url("/tls", host="localhost")),
                         ("self", cls.selfsigned.url("/tls",
                                                     host="localhost")),
                         ("name", cls.good.url("/tls"))):
            env.request("agents.put", agent={"id": aid, "url": url})
        env.number(N_GOOD, "good")
        env.number(N_SELF, "self")
        env.number(N_NAME, "name")

    @classmethod
    def tearDownClass(cls):
        try:
            cls.env.close()
        finally:
            cls.good.close()
            cls.selfsigned.close()
            import shutil
            shutil.rmtree(cls.pki_dir, ignore_errors=True)

    def call(self, number, hold=600):
        return self.env.uac_call(number, hold, seconds=0.6, seed=5).run()

    def new_ended(self, before):
        self.env.wait_idle()
        return [c for c in self.env.recent() if c["call_sid"] not in before]

    def sids(self):
        return {c["call_sid"] for c in self.env.recent()}

    def test_01_trusted_agent_gets_the_stream(self):
        before = self.sids()
        rec = self.streamed_call(self.good, N_GOOD,
                                 "localhost:%d" % self.good.port, seed=5)
        self.assertIsNone(rec["tls_error"])
        self.assertEqual([c["end_reason"] for c in self.new_ended(before)],
                         ["caller-bye"])
        self.env.take_baseline()

    def refused(self, number, agent, name):
        n = len(agent.conns)
        before = self.sids()
        res = self.call(number)
        self.assertEqual(res.final("INVITE"), 503, res.summary())
        self.assertNotIn(200, res.codes("INVITE"))
        m = res.final_msg("INVITE")
        self.assertIsNotNone(m.header("Retry-After"), m.text)
        self.assertEqual([c["end_reason"] for c in self.new_ended(before)],
                         ["agent-failed"], name)
        cbtest.wait_for(lambda: len(agent.conns) > n and
                        agent.conns[n]["closed"], 10,
                        "the refused TLS connection to end")
        rec = agent.conns[n]
        self.assertIsNotNone(rec["tls_error"], name)
        self.assertIsNone(rec["t_request"], "no upgrade request: " + name)

    def test_02_self_signed_agent_refused(self):
        self.refused(N_SELF, self.selfsigned, "self-signed certificate")

    def test_03_wrong_name_refused(self):
        self.refused(N_NAME, self.good, "certificate for another host")


class SystemStoreTest(callenv.CallTestCase):

    @classmethod
    def setUpClass(cls):
        callenv.require_sipp()
        import tempfile
        cls.pki_dir = tempfile.mkdtemp(prefix="cb-tls-")
        cls.pki = make_pki(cls.pki_dir)
        cls.good = callenv.PyAgent(tls=server_ctx(cls.pki["srv.pem"],
                                                  cls.pki["srv.key"]))

    @classmethod
    def tearDownClass(cls):
        cls.good.close()
        import shutil
        shutil.rmtree(cls.pki_dir, ignore_errors=True)

    def one_call(self, cert_file):
        """A gateway without agent_tls_ca, started with SSL_CERT_FILE
        set to cert_file (None: unset); the final INVITE status and the
        call's end reason."""
        saved = {k: os.environ.get(k) for k in ("SSL_CERT_FILE",
                                                "SSL_CERT_DIR")}
        os.environ.pop("SSL_CERT_FILE", None)
        os.environ.pop("SSL_CERT_DIR", None)
        if cert_file:
            os.environ["SSL_CERT_FILE"] = cert_file
            os.environ["SSL_CERT_DIR"] = self.pki_dir   # no hashed certs
        try:
            env = callenv.CallEnv()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        try:
            env.request("agents.put", agent={
                "id": "good", "url": self.good.url("/tls",
                                                   host="localhost")})
            env.number(N_GOOD, "good")
            res = env.uac_call(N_GOOD, 300, seed=6).run()
            env.wait_idle()
            return res.final("INVITE"), [c["end_reason"]
                                         for c in env.recent()]
        finally:
            env.close()

    def test_01_system_store_trusts_its_cas(self):
        self.assertEqual(self.one_call(self.pki["ca.pem"]),
                         (200, ["caller-bye"]))

    def test_02_system_store_refuses_others(self):
        self.assertEqual(self.one_call(None), (503, ["agent-failed"]))


if __name__ == "__main__":
    callenv.run_tests()
