#!/usr/bin/env python3
"""callbridgectl against the running daemon: every subcommand, its output
and its exit code (0 ok, 1 refused, 2 usage, 3 unreachable); changes
survive a restart."""

import json
import os
import unittest

import cbtest

OK, REFUSED, USAGE, UNREACH = 0, 1, 2, 3


class CliTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.gw = cbtest.Daemon(seed=cbtest.DEMO_SEED)
        cls.gw.start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()

    def run_cli(self, *args, rc=OK, input=None, **kw):
        res = self.gw.cli(*args, input=input, **kw)
        if res.returncode != rc:
            self.fail("callbridgectl %s: exit %d, expected %d\nstdout: %s\n"
                      "stderr: %s" % (" ".join(args), res.returncode, rc,
                                      res.stdout, res.stderr))
        return res

    def table(self, out):
        """Rows of a table as lists of cells (split on 2+ spaces)."""
        import re
        lines = [l for l in out.splitlines() if l.strip()]
        return [re.split(r"\s{2,}", l.strip()) for l in lines]

    # -- the demo state and the numbers table ---------------------------

    def test_01_demo_number_listed(self):
        res = self.run_cli("numbers", "list")
        rows = self.table(res.stdout)
        self.assertEqual(rows[0], ["Number", "Friendly Name",
                                   "Inbound agent", "Outbound agent",
                                   "Trunk", "Status"])
        self.assertIn(["+14155551234", "Demo - echo agent", "echo", "-",
                       "local", "active"], rows[1:])

    def test_02_status(self):
        res = self.run_cli("status")
        self.assertIn("callbridge", res.stdout)
        self.assertRegex(res.stdout, r"counts\.numbers\s+\d+")
        res = self.run_cli("--json", "status")
        reply = json.loads(res.stdout)
        self.assertTrue(reply["ok"])
        self.assertIn("version", reply)
        self.assertIn("uptime_s", reply)
        self.assertIn("calls", reply)       # the gateway's part

    # -- agents ------------------------------------------------------------

    def test_10_agents(self):
        res = self.run_cli("agents", "put", "support", "--url",
                           "ws://127.0.0.1:9/support", "--name", "Support",
                           "--param", "lang=en", "--param", "tier=gold",
                           "--auth-token-file", "-", input="TOKEN-XYZ\n")
        self.assertEqual(res.stdout.strip(), "agent support created")
        res = self.run_cli("agents", "put", "support", "--url",
                           "ws://127.0.0.1:9/support", "--name", "Support",
                           "--keep-secrets", "--encoding", "l16",
                           "--sample-rate", "16000")
        self.assertEqual(res.stdout.strip(), "agent support replaced")

        res = self.run_cli("agents", "get", "support")
        agent = json.loads(res.stdout)
        self.assertEqual(agent["audio"], {"encoding": "l16",
                                          "sample_rate": 16000})
        self.assertTrue(agent["auth_token_set"])   # kept
        self.assertEqual(agent["parameters"], {})  # put replaces
        self.assertNotIn("TOKEN-XYZ", res.stdout)

        res = self.run_cli("agents", "list")
        rows = self.table(res.stdout)
        self.assertEqual(rows[0], ["ID", "Name", "URL", "Protocol",
                                   "Audio", "Token"])
        self.assertIn(["support", "Support", "ws://127.0.0.1:9/support",
                       "twilio", "l16/16000", "set"], rows)
        self.assertNotIn("TOKEN-XYZ", res.stdout)

        # the token never comes back, not even in --json
        res = self.run_cli("--json", "agents", "list")
        self.assertNotIn("TOKEN-XYZ", res.stdout)
        self.assertTrue(json.loads(res.stdout)["ok"])

        # a put without the token clears it
        self.run_cli("agents", "put", "support", "--url",
                     "ws://127.0.0.1:9/support")
        agent = json.loads(self.run_cli("agents", "get",
                                        "support").stdout)
        self.assertFalse(agent["auth_token_set"])

        # refused by the daemon: exit 1 and a clear message
        res = self.run_cli("agents", "put", "bad", "--url", "http://x/",
                           rc=REFUSED)
        self.assertIn("invalid", res.stderr)
        self.assertIn("ws://", res.stderr)
        res = self.run_cli("agents", "get", "nobody", rc=REFUSED)
        self.assertIn("not_found", res.stderr)
        res = self.run_cli("agents", "delete", "echo", rc=REFUSED)
        self.assertIn("in_use", res.stderr)
        self.assertIn("+14155551234", res.stderr)

        self.run_cli("agents", "put", "tmp", "--url", "wss://a.example/x")
        res = self.run_cli("agents", "delete", "tmp")
        self.assertEqual(res.stdout.strip(), "agent tmp deleted")
        self.run_cli("agents", "delete", "tmp", rc=REFUSED)

    # -- trunks ------------------------------------------------------------

    def test_20_trunks(self):
        res = self.run_cli("trunks", "put", "carrier1", "--kind", "byoc",
                           "--name", "Carrier One", "--allow",
                           "203.0.113.0/24,198.51.100.7", "--allow",
                           "2001:db8::/32", "--address",
                           "sip.carrier.example", "--transport", "tls",
                           "--username", "gw", "--password-file", "-",
                           "--inbound-username", "in",
                           "--inbound-password", "IN-PW",
                           "--media-encryption", "srtp_required",
                           "--header", "X-Tenant: 42", "--codec",
                           "PCMA,PCMU", input="OUT-PW\n")
        self.assertEqual(res.stdout.strip(), "trunk carrier1 created")

        trunk = json.loads(self.run_cli("trunks", "get",
                                        "carrier1").stdout)
        self.assertEqual(trunk["inbound"]["allowed_sources"],
                         ["203.0.113.0/24", "198.51.100.7/32",
                          "2001:db8::/32"])
        self.assertEqual(trunk["outbound"]["port"], 5061)
        self.assertEqual(trunk["outbound"]["headers"], {"X-Tenant": "42"})
        self.assertEqual(trunk["codecs"], ["PCMA", "PCMU"])
        # both directions: on the trunk, not in its outbound block
        self.assertEqual(trunk["media_encryption"], "srtp_required")
        self.assertNotIn("media_encryption", trunk["outbound"])
        self.assertTrue(trunk["outbound"]["auth_password_set"])
        self.assertTrue(trunk["inbound"]["auth_password_set"])

        res = self.run_cli("trunks", "list")
        self.assertNotIn("PW", res.stdout)
        rows = self.table(res.stdout)
        self.assertEqual(rows[0], ["ID", "Name", "Kind", "Allowed sources",
                                   "Outbound", "Media"])
        self.assertIn(["carrier1", "Carrier One", "byoc",
                       "203.0.113.0/24,198.51.100.7/32,2001:db8::/32",
                       "tls:sip.carrier.example:5061", "srtp_required"],
                      rows)

        # keep both passwords while changing the rest
        self.run_cli("trunks", "put", "carrier1", "--kind", "byoc",
                     "--inbound-username", "in", "--username", "gw",
                     "--address", "sip2.carrier.example", "--keep-secrets")
        trunk = json.loads(self.run_cli("trunks", "get",
                                        "carrier1").stdout)
        self.assertEqual(trunk["outbound"]["address"],
                         "sip2.carrier.example")
        self.assertTrue(trunk["outbound"]["auth_password_set"])
        self.assertTrue(trunk["inbound"]["auth_password_set"])
        self.assertEqual(trunk["inbound"]["allowed_sources"], [])

        res = self.run_cli("trunks", "put", "bad", "--kind", "byoc",
                           "--allow", "10.0.0.1/8", rc=REFUSED)
        self.assertIn("did you mean 10.0.0.0/8", res.stderr)
        res = self.run_cli("trunks", "put", "bad", "--kind", "byoc",
                           "--header", "Via: x", rc=REFUSED)
        self.assertIn("written by the gateway", res.stderr)
        self.run_cli("trunks", "delete", "local", rc=REFUSED)
        self.run_cli("trunks", "put", "spare", "--kind", "twilio")
        self.run_cli("trunks", "delete", "spare")
        self.run_cli("trunks", "get", "spare", rc=REFUSED)

    # -- numbers -----------------------------------------------------------

    def test_30_numbers(self):
        self.run_cli("agents", "put", "support", "--url",
                     "ws://127.0.0.1:9/support")
        self.run_cli("trunks", "put", "carrier1", "--kind", "byoc")
        res = self.run_cli("numbers", "put", "+1 (415) 555-0142", "--name",
                           "Support - US", "--trunk", "carrier1",
                           "--inbound-agent", "support")
        self.assertEqual(res.stdout.strip(),
                         "number +14155550142 created")
        res = self.run_cli("numbers", "put", "+442071838750", "--name",
                           "Sales - UK", "--trunk", "carrier1",
                           "--outbound-agent", "support", "--shareable",
                           "--codec", "opus")
        num = json.loads(self.run_cli("numbers", "get",
                                      "+44 20 7183 8750").stdout)
        self.assertTrue(num["outbound_shareable"])
        self.assertEqual(num["codecs"], ["opus"])
        self.assertEqual(num["status"], "active")

        self.run_cli("numbers", "put", "+15550001111", "--name", "Parked",
                     "--trunk", "carrier1")
        rows = self.table(self.run_cli("numbers", "list").stdout)
        self.assertIn(["+14155550142", "Support - US", "support", "-",
                       "carrier1", "active"], rows)
        self.assertIn(["+442071838750", "Sales - UK", "-", "support",
                       "carrier1", "active"], rows)
        self.assertIn(["+15550001111", "Parked", "-", "-", "carrier1",
                       "inactive"], rows)

        res = self.run_cli("numbers", "put", "0044207183875", "--name", "x",
                           "--trunk", "carrier1", rc=REFUSED)
        self.assertIn("must start with '+'", res.stderr)
        res = self.run_cli("numbers", "put", "+14155559999", "--name", "x",
                           "--trunk", "nope", rc=REFUSED)
        self.assertIn("no such trunk", res.stderr)
        res = self.run_cli("numbers", "put", "+14155559999", "--name", "x",
                           "--trunk", "carrier1", "--inbound-agent",
                           "ghost", rc=REFUSED)
        self.assertIn("no such agent", res.stderr)

        res = self.run_cli("--json", "numbers", "delete", "+15550001111")
        self.assertEqual(json.loads(res.stdout)["deleted"], "+15550001111")
        res = self.run_cli("--json", "numbers", "get", "+15550001111",
                           rc=REFUSED)
        self.assertEqual(json.loads(res.stdout)["error"]["code"],
                         "not_found")

    # -- calls and raw requests ---------------------------------------------

    def test_40_calls_and_request(self):
        res = self.run_cli("calls", "list")
        self.assertEqual(res.returncode, OK)
        res = self.run_cli("--json", "calls", "list")
        self.assertIsInstance(json.loads(res.stdout)["calls"], list)
        res = self.run_cli("calls", "get", "CA0000", rc=REFUSED)
        self.assertIn("not_found", res.stderr)

        res = self.run_cli("request", '{"op":"agents.get","agent":"echo"}')
        self.assertEqual(json.loads(res.stdout)["agent"]["id"], "echo")
        self.run_cli("request", '{"op":"nope"}', rc=REFUSED)
        self.run_cli("request", "not json", rc=USAGE)

    # -- callbridge --check ----------------------------------------------

    def check(self, conf):
        import subprocess
        return subprocess.run([cbtest.binary("callbridge"), "--config", conf,
                               "--check"], capture_output=True, text=True,
                              timeout=30)

    def test_45_check_beside_the_running_daemon(self):
        """--check validates settings and state while the daemon runs
        (the pre-flight before a restart): it takes no lock and writes
        nothing."""
        with open(self.gw.state, "rb") as f:
            before = f.read()
        res = self.check(self.gw.conf)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("settings and state OK", res.stdout)
        self.assertRegex(res.stdout, r"\(\d+ agents, \d+ trunks, "
                         r"\d+ numbers\)")
        with open(self.gw.state, "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertTrue(self.gw.alive())

    def test_46_check_fresh_install_and_broken_state(self):
        import tempfile
        d = tempfile.mkdtemp(prefix="cb-check-")
        try:
            # no state yet: the seed is checked, nothing is created
            state = os.path.join(d, "state", "state.json")
            conf = os.path.join(d, "fresh.conf")
            with open(conf, "w") as f:
                f.write("state_file %s\nstate_seed %s\n"
                        % (state, cbtest.DEMO_SEED))
            res = self.check(conf)
            self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
            self.assertIn("(1 agents, 1 trunks, 1 numbers)", res.stdout)
            self.assertFalse(os.path.exists(os.path.dirname(state)))
            # a broken state file: exit 1, the file named
            bad = os.path.join(d, "bad.json")
            with open(bad, "w") as f:
                f.write('{"version": 1, "agents": [}')
            with open(conf, "w") as f:
                f.write("state_file %s\n" % bad)
            res = self.check(conf)
            self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
            self.assertIn("bad.json", res.stdout + res.stderr)
        finally:
            import shutil
            shutil.rmtree(d, ignore_errors=True)

    # -- usage errors, help, unreachable -------------------------------------

    def test_50_usage(self):
        for args in [(), ("frob",), ("numbers",), ("numbers", "frob"),
                     ("numbers", "get"), ("numbers", "get", "a", "b"),
                     ("numbers", "put", "+14155550142", "--trunk", "x"),
                     ("numbers", "put", "+14155550142", "--name", "x"),
                     ("agents", "put", "a"),
                     ("agents", "put", "a", "--url", "ws://h/", "--trunk",
                      "x"),
                     ("trunks", "put", "t"),
                     ("agents", "list", "--name", "x"),
                     ("agents", "put", "a", "--url"),
                     ("agents", "put", "a", "--url", "ws://h/", "--param",
                      "novalue"),
                     ("--timeout", "0", "status"),
                     ("--bogus", "status"),
                     ("-s", "/x", "-c", "/y", "status"),
                     ("calls", "get")]:
            res = self.gw.cli(*args)
            self.assertEqual(res.returncode, USAGE,
                             "%s: %s" % (args, res.stderr))
            self.assertTrue(res.stderr, args)

        for args in [("--help",), ("numbers", "--help"),
                     ("agents", "put", "--help"), ("trunks", "-h"),
                     ("calls", "--help"), ("status", "--help"),
                     ("help", "numbers")]:
            res = self.gw.cli(*args)
            self.assertEqual(res.returncode, OK, args)
            self.assertIn("Usage", res.stdout, args)

        res = self.gw.cli("--version")
        self.assertEqual(res.returncode, OK)
        self.assertIn("callbridgectl", res.stdout)

    def test_51_unreachable(self):
        missing = os.path.join(self.gw.dir, "nobody.sock")
        res = self.gw.cli("-s", missing, "status", socket_opt=False)
        self.assertEqual(res.returncode, UNREACH)
        self.assertIn("cannot reach", res.stderr)
        res = self.gw.cli("-s", missing, "numbers", "list",
                          socket_opt=False)
        self.assertEqual(res.returncode, UNREACH)

    def test_52_config_option(self):
        # -c takes the socket from the settings file
        res = self.gw.cli("-c", self.gw.conf, "numbers", "list",
                          socket_opt=False)
        self.assertEqual(res.returncode, OK, res.stderr)
        self.assertIn("+14155551234", res.stdout)
        res = self.gw.cli("-c", "/nonexistent.conf", "status",
                          socket_opt=False)
        self.assertEqual(res.returncode, USAGE)

    # -- persistence across a restart -------------------------------------

    def test_90_restart_keeps_changes(self):
        self.run_cli("trunks", "put", "carrier9", "--kind", "byoc")
        self.run_cli("numbers", "put", "+14155557777", "--name", "Mine",
                     "--trunk", "carrier9", "--inbound-agent", "echo")
        self.assertEqual(self.gw.stop(), 0)
        self.run_cli("numbers", "list", rc=UNREACH)
        self.gw.start()
        rows = self.table(self.run_cli("numbers", "list").stdout)
        self.assertIn(["+14155557777", "Mine", "echo", "-", "carrier9",
                       "active"], rows)
        # the seed is not applied again over the existing state
        self.run_cli("numbers", "delete", "+14155551234")
        self.gw.restart()
        self.run_cli("numbers", "get", "+14155551234", rc=REFUSED)


if __name__ == "__main__":
    cbtest.run_tests()
