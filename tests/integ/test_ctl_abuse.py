#!/usr/bin/env python3
"""Control socket abuse against the real daemon: 10,000 lines of random
bytes, 1 MiB lines, 200 idle clients (and clients that stop mid-line),
a client that never reads its replies. Afterwards the daemon answers
status within a second (a bounded wait that fails the test, not a speed
measurement), has released the clients' descriptors, its memory has not
grown out of bounds, and its state is untouched.

CB_TEST_SEED sets the seed of the random bytes."""

import json
import os
import random
import socket
import sys
import threading
import unittest

import cbtest

SEED = int(os.environ.get("CB_TEST_SEED", "4242"))
RANDOM_LINES = 10000
CONNS = 4
IDLE = 200
MIDLINE = 50
MIB = 1 << 20
RSS_GROWTH_MAX_KIB = 96 * 1024   # generous: sanitizer builds are fat


def status_within_1s(gw):
    """A fresh client gets a status reply within one second."""
    with cbtest.CtlClient(gw.sock, timeout=1.0) as c:
        reply = c.request("status", timeout=1.0)
    assert reply["ok"], reply
    return reply


def random_line(rng):
    n = rng.randrange(1, 300)
    b = bytearray(rng.getrandbits(8) for _ in range(n))
    b = b.replace(b"\n", b"x")
    b[0] = 0x80 | (b[0] & 0x7f)    # not blank after stripping
    return bytes(b) + b"\n"


class Reader(threading.Thread):
    """Reads reply lines until `expect` have come or the socket closes."""

    def __init__(self, conn, expect):
        super().__init__(daemon=True)
        self.conn = conn
        self.expect = expect
        self.replies = []
        self.error = None

    def run(self):
        try:
            while len(self.replies) < self.expect:
                line = self.conn.recv_line(timeout=30)
                if line is None:
                    self.error = "closed after %d replies" % len(
                        self.replies)
                    return
                self.replies.append(json.loads(line))
        except Exception as e:        # reported by the test
            self.error = repr(e)


class AbuseTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.gw = cbtest.Daemon(seed=cbtest.DEMO_SEED)
        cls.gw.start()
        status_within_1s(cls.gw)
        cls.state_before = cls.gw.request("numbers.list")["numbers"]
        cls.fds_before = cls.gw.fd_count()
        cls.rss_before = cls.gw.rss_kib()

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()

    def test_1_random_bytes(self):
        rng = random.Random(SEED)
        per_conn = RANDOM_LINES // CONNS
        conns, readers, writers = [], [], []

        def write(conn, lines):
            for i in range(0, len(lines), 100):
                conn.send_raw(b"".join(lines[i:i + 100]))

        for _ in range(CONNS):
            conn = self.gw.client(timeout=30)
            lines = [random_line(rng) for _ in range(per_conn)]
            r = Reader(conn, per_conn)
            w = threading.Thread(target=write, args=(conn, lines),
                                 daemon=True)
            conns.append(conn)
            readers.append(r)
            writers.append(w)
            r.start()
            w.start()

        for w in writers:
            w.join(120)
            self.assertFalse(w.is_alive(), "writer stuck")
        for r in readers:
            r.join(120)
            self.assertFalse(r.is_alive(), "reader stuck")
            self.assertIsNone(r.error)
            self.assertEqual(len(r.replies), per_conn)
            for rep in r.replies:
                self.assertFalse(rep["ok"])
                self.assertIn(rep["error"]["code"],
                              ("parse_error", "bad_request"))
        # the same connections still work
        for conn in conns:
            self.assertTrue(conn.request("status")["ok"])
            conn.close()
        status_within_1s(self.gw)

    def test_2_huge_lines(self):
        rng = random.Random(SEED + 1)
        big = bytes(rng.randrange(0x20, 0x7f) for _ in range(MIB))

        with self.gw.client(timeout=30) as c:
            c.send_raw(big + b"\n")
            first = c.recv(timeout=30)
            self.assertEqual(first["error"]["code"], "line_too_long")
            self.assertIsNone(first["id"])
            self.assertTrue(c.request("status")["ok"])

            # two in a row, no newline between chunks until the end
            c.send_raw(big)
            c.send_raw(big + b"\n")
            self.assertEqual(c.recv(timeout=30)["error"]["code"],
                             "line_too_long")
            self.assertTrue(c.request("status")["ok"])

        # a 1 MiB line cut off by a disconnect
        with self.gw.client() as c:
            c.send_raw(big[:MIB // 2])
        status_within_1s(self.gw)

    def test_3_idle_and_midline_clients(self):
        idle = []
        try:
            for i in range(IDLE + MIDLINE):
                c = self.gw.client()
                if i >= IDLE:
                    c.send_raw(b'{"op":"numbers.li')
                idle.append(c)
            reply = status_within_1s(self.gw)
            self.assertEqual(reply["counts"]["numbers"],
                             len(self.state_before))
            # and a change goes through meanwhile
            with self.gw.client(timeout=1.0) as c:
                self.assertTrue(c.request("agents.put", timeout=1.0, agent={
                    "id": "abuse", "url": "ws://127.0.0.1:9/x"})["ok"])
                self.assertTrue(c.request("agents.delete", timeout=1.0,
                                          agent="abuse")["ok"])
        finally:
            for c in idle:
                c.close()
        status_within_1s(self.gw)

    def test_4_client_that_does_not_read(self):
        greedy = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        greedy.connect(self.gw.sock)
        greedy.setblocking(False)
        req = b'{"op":"numbers.list"}\n' * 5000
        sent = 0
        try:
            while sent < len(req):
                sent += greedy.send(req[sent:sent + 65536])
        except BlockingIOError:
            pass          # the daemon stopped reading it: backpressure
        self.assertGreater(sent, 0)
        status_within_1s(self.gw)
        greedy.close()
        status_within_1s(self.gw)

    def test_9_afterwards(self):
        # every client descriptor is released (bounded wait)
        cbtest.wait_for(lambda: self.gw.fd_count() <= self.fds_before,
                        10, "descriptors back to %d (now %d)"
                        % (self.fds_before, self.gw.fd_count()))
        growth = self.gw.rss_kib() - self.rss_before
        sys.stderr.write("abuse: RSS %d KiB before, %d KiB after; %d fds\n"
                         % (self.rss_before, self.rss_before + growth,
                            self.gw.fd_count()))
        self.assertLess(growth, RSS_GROWTH_MAX_KIB,
                        "RSS grew by %d KiB" % growth)
        self.assertEqual(self.gw.request("numbers.list")["numbers"],
                         self.state_before)
        status_within_1s(self.gw)
        self.assertEqual(self.gw.stop(), 0)


if __name__ == "__main__":
    cbtest.run_tests()
