#!/usr/bin/env python3
"""Crash safety of the state file: while 8 clients send 1,000 changes in
total over the control socket, the daemon is killed with SIGKILL at random
moments (seeded) and restarted. Each time, the state must load and hold
every acknowledged change; the only change allowed to be there without an
acknowledgement is the one each client had in flight.

Each client owns its keys (an agent and 20 numbers), so the expected value
of every key is exact: the last acknowledged value, or the in-flight one.

CB_TEST_SEED sets the seed (printed on failure)."""

import os
import random
import stat
import sys
import threading
import time
import unittest

import cbtest

CLIENTS = 8
CHANGES = 1000
KILLS = 3
NUMS_PER_CLIENT = 20
SEED = int(os.environ.get("CB_TEST_SEED", "20240521"))

DELETED = object()   # expected value of a deleted key


def number_of(client, k):
    return "+1555%02d%05d" % (client, k)


def make_changes(client, count, rng):
    """A client's list of changes: (key, op, fields, expected value)."""
    changes = []
    exists = set()
    for seq in range(count):
        r = rng.random()
        if r < 0.15:
            v = "c%d-v%d" % (client, seq)
            agent = {"id": "c%d" % client, "url": "ws://127.0.0.1:9/c%d"
                     % client, "parameters": {"v": v}}
            changes.append((("agent", "c%d" % client), "agents.put",
                            {"agent": agent}, v))
        elif r < 0.30 and exists:
            k = rng.choice(sorted(exists))
            exists.discard(k)
            num = number_of(client, k)
            changes.append((("number", num), "numbers.delete",
                            {"number": num}, DELETED))
        else:
            k = rng.randrange(NUMS_PER_CLIENT)
            exists.add(k)
            num = number_of(client, k)
            v = "c%d-v%d" % (client, seq)
            n = {"number": num, "friendly_name": v, "trunk_id": "t",
                 "inbound_agent_id": "c%d" % client if seq % 2 else None}
            changes.append((("number", num), "numbers.put", {"number": n},
                            (v, n["inbound_agent_id"])))
    return changes


class Client(threading.Thread):
    """Sends its changes one at a time until done, stopped or the daemon
    dies; keeps what was acknowledged and what was in flight."""

    def __init__(self, idx, gw, changes, start_at, acked):
        super().__init__(daemon=True)
        self.idx = idx
        self.gw = gw
        self.changes = changes
        self.pos = start_at
        self.acked = acked           # key -> expected value (shared model)
        self.inflight = None
        self.error = None
        self.stop_at = len(changes)

    def run(self):
        try:
            conn = self.gw.client(timeout=20)
        except OSError as e:
            self.error = "connect: %s" % e
            return
        try:
            while self.pos < self.stop_at:
                key, op, fields, value = self.changes[self.pos]
                self.inflight = (key, value)
                try:
                    reply = conn.request(op, **fields)
                except (OSError, ConnectionError, ValueError):
                    return          # the daemon died mid-request
                if not reply.get("ok"):
                    code = reply["error"]["code"]
                    # a delete re-sent after a crash may already be done
                    if not (op.endswith(".delete") and code == "not_found"):
                        self.error = "%s refused: %s" % (op, reply)
                        return
                self.acked[key] = value
                self.inflight = None
                self.pos += 1
        except cbtest.Timeout as e:
            self.error = str(e)
        finally:
            conn.close()


def actual_model(gw):
    """key -> value as the daemon has it (same shape as expected)."""
    model = {}
    for n in gw.request("numbers.list")["numbers"]:
        model[("number", n["number"])] = (n["friendly_name"],
                                          n["inbound_agent_id"])
    for a in gw.request("agents.list")["agents"]:
        if a["id"].startswith("c"):
            model[("agent", a["id"])] = a["parameters"].get("v")
    return model


class Kill9Test(unittest.TestCase):

    def check(self, gw, acked, inflight, when):
        actual = actual_model(gw)
        touched = set(acked) | {f[0] for f in inflight if f}
        unknown = set(actual) - touched
        self.assertFalse(unknown, "%s: unexpected entries %s (seed %d)"
                         % (when, sorted(unknown)[:5], SEED))
        for key in touched:
            allowed = [acked.get(key, DELETED)]
            for f in inflight:
                if f and f[0] == key:
                    allowed.append(f[1])
            got = actual.get(key, DELETED)
            self.assertIn(got, allowed, "%s: %s is %r, acknowledged %r "
                          "(seed %d)" % (when, key, got, allowed[0], SEED))

    def test_kill9_during_changes(self):
        rng = random.Random(SEED)
        per_client = CHANGES // CLIENTS
        changes = [make_changes(i, per_client, random.Random(SEED * 100 + i))
                   for i in range(CLIENTS)]
        # kill after these many acknowledged changes (cumulative)
        kill_points = sorted(rng.sample(range(50, CHANGES - 50), KILLS))
        acked = {}
        positions = [0] * CLIENTS

        with cbtest.Daemon() as gw:
            self.assertTrue(gw.request("trunks.put", trunk={
                "id": "t", "kind": "byoc"})["ok"])
            for i in range(CLIENTS):
                self.assertTrue(gw.request("agents.put", agent={
                    "id": "c%d" % i, "url": "ws://127.0.0.1:9/c%d" % i,
                    "parameters": {"v": "init"}})["ok"])
                acked[("agent", "c%d" % i)] = "init"

            for rnd in range(KILLS + 1):
                clients = [Client(i, gw, changes[i], positions[i], acked)
                           for i in range(CLIENTS)]
                for c in clients:
                    c.start()

                if rnd < KILLS:
                    target = kill_points[rnd]
                    cbtest.wait_for(
                        lambda: sum(c.pos for c in clients) >= target or
                        not any(c.is_alive() for c in clients),
                        120, "%d acknowledged changes" % target,
                        interval=0.0005)
                    gw.kill9()
                for c in clients:
                    c.join(60)
                    self.assertFalse(c.is_alive(), "client stuck")
                    self.assertIsNone(c.error, "client %d: %s (seed %d)"
                                      % (c.idx, c.error, SEED))
                positions = [c.pos for c in clients]
                inflight = [c.inflight for c in clients]

                if rnd < KILLS:
                    # the file is whole, private, and loads
                    state = gw.read_state()
                    self.assertEqual(state["format"], 2)
                    mode = stat.S_IMODE(os.stat(gw.state).st_mode)
                    self.assertEqual(mode, 0o600)
                    gw.start()
                    self.check(gw, acked, inflight,
                               "after kill %d at %d changes"
                               % (rnd + 1, sum(positions)))
                    # the in-flight change is re-sent by the next round:
                    # whichever way it went, it ends up applied
                    for i, c in enumerate(clients):
                        if c.inflight:
                            positions[i] = c.pos

            self.assertEqual(sum(positions), per_client * CLIENTS)
            self.assertEqual(gw.stop(), 0)
            gw.start()
            self.check(gw, acked, [], "after all %d changes" %
                       (per_client * CLIENTS))
            sys.stderr.write("kill9: seed %d, kills at %s acknowledged "
                             "changes\n" % (SEED, kill_points))


if __name__ == "__main__":
    cbtest.run_tests()
