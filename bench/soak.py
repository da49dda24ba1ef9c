#!/usr/bin/env python3
"""soak: a long run at a steady call rate, to catch slow leaks.

Calls of --hold s placed at --cps per transport (UDP and TCP at once by
default, one cb-loadgen each) for --minutes, while the control socket is
changed all the while (agents, trunks and numbers created, updated and
deleted, through the socket and through callbridgectl). Calls go to
--numbers stable numbers whose agent (cb-agentsim) and trunk are updated
in place but never removed, so every call must reach the agent.

Every call is accounted for at the end: each cb-loadgen's counts (placed,
answered, failed, hung up), the gateway's (status: calls started and
ended by reason) and the agent simulator's (WebSockets opened, started,
stopped, closed) must agree, and every change made on the control socket
must have been answered as the driver's model of the store expects.

Every --sample s the gateway's RSS and open descriptors are read from
/proc; the slope after --warmup min is fitted by least squares and
reported in KiB/min and fds/min. With a sanitizer build of the gateway
(--gateway BINARY) its log is checked for sanitizer reports and its exit
code must be 0 (LeakSanitizer's report at exit makes it non-zero).

The gateway, cb-agentsim and cb-loadgen are started as cbbench.py starts
them (its Rig), unpinned and at normal priority: a soak measures memory
and correctness, not speed, on a machine that may be shared. Not for CI:
see bench/README.md for the commands and the figures measured.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time

import cbbench
from cbbench import HarnessError, log, proc_fds, proc_rss

SAN_MARKS = (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer",
             b"runtime error:", b"WARNING: ThreadSanitizer",
             b"SUMMARY: UndefinedBehaviorSanitizer")


# ---------------------------------------------------------------------------
# the control socket

class Ctl:
    """One connection to the control socket: a request, its reply."""

    def __init__(self, path, timeout=10.0):
        self.path = path
        self.timeout = timeout
        self.s = None
        self.buf = b""
        self.next_id = 1

    def connect(self):
        self.close()
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(self.timeout)
        self.s.connect(self.path)

    def close(self):
        if self.s:
            self.s.close()
        self.s = None
        self.buf = b""

    def req(self, op, **fields):
        if not self.s:
            self.connect()
        rid = self.next_id
        self.next_id += 1
        msg = dict(fields, id=rid, op=op)
        self.s.sendall((json.dumps(msg) + "\n").encode())
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self.buf:
            if time.monotonic() > deadline:
                raise HarnessError("control socket: no reply to %s" % op)
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise HarnessError("control socket closed on %s" % op)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        r = json.loads(line)
        if r.get("id") != rid:
            raise HarnessError("control socket: reply id %r for %r" %
                               (r.get("id"), rid))
        return r


# ---------------------------------------------------------------------------
# the churn: a schedule of changes, each checked against a model

CHURN_BASE = 15550200000   # churn numbers; the stable ones are the bench's


class Churn:
    """Changes the store all the while, and checks every answer.

    Slot s (of --churn-slots) owns agent, trunk and number "churn-s" /
    +1555020000s. Step i works on slot i % slots, phase (i // slots) % 14:
    the slots go through the phases together, so the store grows by
    `slots` objects of each kind and shrinks back, again and again. The
    stable agent, trunk and numbers the calls use are updated in place
    (their names), never removed. Every --cli-every-th step that has a CLI
    form goes through callbridgectl instead of the socket.
    """

    PHASES = ("agent_put", "trunk_put", "number_put", "agent_update",
              "agent_delete_in_use", "number_update", "stable_agent",
              "stable_trunk", "stable_number", "number_delete",
              "trunk_delete", "agent_delete", "status", "invalid")

    def __init__(self, a, ctl, ctlbin, sock, stable):
        self.a, self.ctl, self.ctlbin, self.sock = a, ctl, ctlbin, sock
        self.stable = stable              # {"agent": {...}, "trunk": ...}
        self.agents, self.trunks, self.numbers = set(), set(), set()
        self.base = dict(stable["counts"])
        self.i = 0
        self.ops = {}
        self.cli = 0
        self.bad = []                     # unexpected answers (<= 20 kept)
        self.nbad = 0

    def expect(self, what, ok, got):
        self.ops[what] = self.ops.get(what, 0) + 1
        if not ok:
            self.nbad += 1
            if len(self.bad) < 20:
                self.bad.append({"step": self.i, "op": what,
                                 "got": str(got)[:300]})

    def run_cli(self, args):
        self.cli += 1
        p = subprocess.run([self.ctlbin, "-s", self.sock, "--json"] + args,
                           capture_output=True, text=True, timeout=20)
        try:
            return p.returncode, json.loads(p.stdout or "null")
        except ValueError:
            return p.returncode, p.stdout[:200]

    def step(self):
        slot = self.i % self.a.churn_slots
        phase = self.PHASES[(self.i // self.a.churn_slots) %
                            len(self.PHASES)]
        use_cli = self.a.cli_every and self.i % self.a.cli_every == 0
        getattr(self, "do_" + phase)(slot, use_cli)
        self.i += 1

    # -- the objects
    def agent_obj(self, slot, rev=0):
        return {"id": "churn-%d" % slot, "name": "churn %d rev %d" %
                (slot, rev), "url": "ws://127.0.0.1:9/churn%d" % slot,
                "protocol": "twilio",
                "audio": {"encoding": "mulaw", "sample_rate": 8000}}

    def number_obj(self, slot, name="churn"):
        return {"number": "+%d" % (CHURN_BASE + slot),
                "friendly_name": "%s %d" % (name, self.i),
                "trunk_id": "churn-%d" % slot,
                "inbound_agent_id": "churn-%d" % slot,
                "outbound_agent_id": None, "outbound_shareable": False}

    # -- the phases
    def do_agent_put(self, slot, cli):
        aid = "churn-%d" % slot
        if cli:
            rc, r = self.run_cli(["agents", "put", aid, "--url",
                                  "ws://127.0.0.1:9/churn%d" % slot,
                                  "--name", "churn %d" % slot])
            self.expect("cli agents.put", rc == 0, r)
        else:
            r = self.ctl.req("agents.put", agent=self.agent_obj(slot))
            self.expect("agents.put", r.get("ok") and r.get("created")
                        == (aid not in self.agents), r)
        self.agents.add(aid)

    def do_trunk_put(self, slot, cli):
        tid = "churn-%d" % slot
        r = self.ctl.req("trunks.put", trunk={
            "id": tid, "name": "churn %d" % slot, "kind": "byoc",
            "media_encryption": "none",
            "inbound": {"allowed_sources": ["192.0.2.%d/32" % (slot + 1)]},
            "outbound": {"address": "127.0.0.1", "port": 5090 + slot,
                         "transport": "tcp" if slot % 2 else "udp"}})
        self.expect("trunks.put", r.get("ok") and r.get("created") ==
                    (tid not in self.trunks), r)
        self.trunks.add(tid)

    def do_number_put(self, slot, cli):
        num = "+%d" % (CHURN_BASE + slot)
        r = self.ctl.req("numbers.put", number=self.number_obj(slot))
        self.expect("numbers.put", r.get("ok") and r.get("created") ==
                    (num not in self.numbers), r)
        self.numbers.add(num)

    def do_agent_update(self, slot, cli):
        r = self.ctl.req("agents.put", agent=self.agent_obj(slot, self.i))
        self.expect("agents.put (update)", r.get("ok") and
                    r.get("created") is False, r)

    def do_agent_delete_in_use(self, slot, cli):
        aid = "churn-%d" % slot
        if cli:
            rc, r = self.run_cli(["agents", "delete", aid])
            self.expect("cli agents.delete (in use)", rc == 1, r)
            return
        r = self.ctl.req("agents.delete", agent=aid)
        err = r.get("error") or {}
        self.expect("agents.delete (in use)", not r.get("ok") and
                    err.get("code") == "in_use" and
                    err.get("numbers") == ["+%d" % (CHURN_BASE + slot)], r)

    def do_number_update(self, slot, cli):
        r = self.ctl.req("numbers.put", number=self.number_obj(slot, "upd"))
        self.expect("numbers.put (update)", r.get("ok") and
                    r.get("created") is False, r)

    def do_stable_agent(self, slot, cli):
        ag = dict(self.stable["agent"], name="bench rev %d" % self.i)
        r = self.ctl.req("agents.put", agent=ag)
        self.expect("agents.put (stable)", r.get("ok") and
                    r.get("created") is False, r)

    def do_stable_trunk(self, slot, cli):
        tr = dict(self.stable["trunk"], name="bench rev %d" % self.i)
        r = self.ctl.req("trunks.put", trunk=tr)
        self.expect("trunks.put (stable)", r.get("ok") and
                    r.get("created") is False, r)

    def do_stable_number(self, slot, cli):
        n = self.stable["numbers"][self.i % len(self.stable["numbers"])]
        nb = dict(n, friendly_name="bench rev %d" % self.i)
        r = self.ctl.req("numbers.put", number=nb)
        self.expect("numbers.put (stable)", r.get("ok") and
                    r.get("created") is False, r)

    def do_number_delete(self, slot, cli):
        num = "+%d" % (CHURN_BASE + slot)
        if cli:
            rc, r = self.run_cli(["numbers", "delete", num])
            self.expect("cli numbers.delete", rc == 0, r)
        else:
            r = self.ctl.req("numbers.delete", number=num)
            self.expect("numbers.delete", r.get("ok") and
                        r.get("deleted") == num, r)
        self.numbers.discard(num)

    def do_trunk_delete(self, slot, cli):
        tid = "churn-%d" % slot
        r = self.ctl.req("trunks.delete", trunk=tid)
        self.expect("trunks.delete", r.get("ok"), r)
        self.trunks.discard(tid)

    def do_agent_delete(self, slot, cli):
        aid = "churn-%d" % slot
        r = self.ctl.req("agents.delete", agent=aid)
        self.expect("agents.delete", r.get("ok"), r)
        self.agents.discard(aid)
        r = self.ctl.req("agents.get", agent=aid)
        self.expect("agents.get (deleted)", (r.get("error") or {}).get(
            "code") == "not_found", r)

    def do_status(self, slot, cli):
        if cli:
            rc, r = self.run_cli(["status"])
            self.expect("cli status", rc == 0, r)
            return
        r = self.ctl.req("status")
        want = {"agents": self.base["agents"] + len(self.agents),
                "trunks": self.base["trunks"] + len(self.trunks),
                "numbers": self.base["numbers"] + len(self.numbers)}
        self.expect("status (counts)", r.get("ok") and
                    r.get("counts") == want, (r.get("counts"), want))

    def do_invalid(self, slot, cli):
        nb = self.number_obj(slot)
        nb["inbound_agent_id"] = "no-such-agent"
        r = self.ctl.req("numbers.put", number=nb)
        self.expect("numbers.put (invalid)", (r.get("error") or {}).get(
            "code") == "invalid", r)

    def finish(self):
        """Back to the stable objects; check the store has nothing else."""
        for slot in range(self.a.churn_slots):
            for op, key, val in (
                    ("numbers.delete", "number", "+%d" % (CHURN_BASE + slot)),
                    ("trunks.delete", "trunk", "churn-%d" % slot),
                    ("agents.delete", "agent", "churn-%d" % slot)):
                self.ctl.req(op, **{key: val})
        self.agents.clear()
        self.trunks.clear()
        self.numbers.clear()
        r = self.ctl.req("status")
        self.expect("status (end)", r.get("counts") == self.base,
                    (r.get("counts"), self.base))

    def report(self):
        return {"steps": self.i, "cli_calls": self.cli, "ops": self.ops,
                "unexpected": self.nbad, "unexpected_first": self.bad}


# ---------------------------------------------------------------------------
# sampling and the slope

def lsq_slope(xs, ys):
    """Least-squares slope of ys over xs (None with fewer than 3 points)."""
    n = len(xs)
    if n < 3:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def gen_counts(g):
    c = g["calls"]
    return {k: c[k] for k in ("attempted", "answered", "failed",
                              "peer_bye", "timeouts", "hung_up",
                              "canceled", "live", "inviting")} | {
        "codes": c["codes"], "rtp_rx_lost": g["rx"]["lost"],
        "down_lost": g["media"]["down_lost"],
        "crosstalk": g["media"]["crosstalk"]}


def sample(rig, gens, ctl, t0):
    st = ctl.req("status")
    calls = st.get("calls", {})
    row = {"t_s": round(time.monotonic() - t0, 1),
           "rss_kib": proc_rss(rig.gw_pid) // 1024,
           "fds": proc_fds(rig.gw_pid),
           "active": calls.get("active"), "started": calls.get("started")}
    for name, g in gens.items():
        c = g.cmd("stats")["calls"]
        row[name] = [c["attempted"], c["answered"], c["failed"], c["live"]]
    ag = rig.agent.cmd("stats")
    row["agent"] = [ag["starts"], ag["stops"], ag["closed"], ag["open"]]
    return row


def fd_kinds(pid):
    """The gateway's descriptors by kind: tcp, udp, unix, anon_inode:...,
    or file; sockets told apart by their inode in /proc/net."""
    inodes = {}
    for kind in ("tcp", "tcp6", "udp", "udp6", "unix"):
        try:
            with open("/proc/%d/net/%s" % (pid, kind)) as f:
                rows = [ln.split() for ln in f][1:]
        except OSError:
            continue
        col = 6 if kind == "unix" else 9
        for r in rows:
            if len(r) > col:
                inodes[r[col]] = kind.rstrip("6")
    out = {}
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return out
    for fd in names:
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if t.startswith("socket:["):
            k = inodes.get(t[8:-1], "socket")
        elif t.startswith("anon_inode:"):
            k = t
        else:
            k = "file"
        out[k] = out.get(k, 0) + 1
    return out


def slopes(samples, warmup_s):
    pts = [s for s in samples if s["t_s"] >= warmup_s]
    xs = [s["t_s"] / 60.0 for s in pts]
    out = {"warmup_s": warmup_s, "points": len(pts)}
    for key, name in (("rss_kib", "rss_kib_per_min"),
                      ("fds", "fds_per_min")):
        k = lsq_slope(xs, [s[key] for s in pts])
        out[name] = None if k is None else round(k, 3)
        if pts:
            vals = [s[key] for s in pts]
            out[key + "_min_max"] = [min(vals), max(vals)]
    return out


# ---------------------------------------------------------------------------
# the run

def start_rig(a):
    """The gateway, cb-agentsim and one cb-loadgen per transport, started
    by cbbench's Rig with its defaults for everything not said here."""
    argv = ["soak", "--out", a.out, "--numbers", str(a.numbers),
            "--cps", str(a.cps), "--no-pin", "--rt", str(a.rt),
            "--log-level", a.log_level, "--max-calls", str(a.max_calls),
            "--loadgen-arg=--duration=%d" % a.hold,
            "--gw-set", "jb_min_ms=40"]
    for kv in a.gw_set:
        argv += ["--gw-set", kv]
    ca = cbbench.parse_args(argv)
    ca.gateway = cbbench.find_bin("callbridge", a.gateway)
    ca.loadgen = cbbench.find_bin("cb-loadgen", a.loadgen)
    ca.agentsim = cbbench.find_bin("cb-agentsim", a.agentsim)
    ca.audio = os.path.join(a.out, "speech.wav")
    if not os.path.exists(ca.audio):
        subprocess.run([sys.executable, os.path.join(cbbench.HERE,
                        "speechgen.py"), ca.audio], check=True)
    ca.sip_tcp = a.transports[0] == "tcp"
    rig = cbbench.Rig(ca, a.out)
    gens = {}
    try:
        rig.start(ca.max_calls)
        gens[a.transports[0]] = rig.gen
        for t in a.transports[1:]:
            g = rig.start_loadgen("loadgen-" + t, t == "tcp", None)
            gens[t] = g
            g.cmd("reset", timeout=60)
    except BaseException:
        for g in gens.values():
            if g is not rig.gen:
                g.stop()
        rig.stop()
        raise
    return ca, rig, gens


def stable_objects(a, ctl):
    """The objects the calls use (cbbench's seed): updated, never removed."""
    ag = ctl.req("agents.get", agent="bench")
    tr = ctl.req("trunks.get", trunk="bench")
    st = ctl.req("status")
    if not (ag.get("ok") and tr.get("ok") and st.get("ok")):
        raise HarnessError("no stable agent or trunk: %s %s" % (ag, tr))
    base = int(cbbench.parse_args(["soak"]).number.lstrip("+"))
    nums = [{"number": "+%d" % (base + i), "trunk_id": "bench",
             "inbound_agent_id": "bench", "outbound_agent_id": None,
             "outbound_shareable": False} for i in range(a.numbers)]
    return {"agent": ag["agent"], "trunk": tr["trunk"], "numbers": nums,
            "counts": st["counts"]}


def drive(a, rig, gens, ctl, churn):
    """Keep the calls coming, change the store, sample; for --minutes."""
    samples = [sample(rig, gens, ctl, time.monotonic())]
    samples[0]["t_s"] = -1.0              # idle, before the first call
    samples[0]["fd_kinds"] = fd_kinds(rig.gw_pid)
    target = int(a.cps * a.hold * 1.3) + 10   # so that --cps sets the rate
    t0 = time.monotonic()
    for g in gens.values():
        g.cmd("target %d" % target)
    end = t0 + a.minutes * 60
    next_sample, next_churn, next_log = t0 + a.sample, t0, t0 + 60
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if not rig.gw.alive():
            raise HarnessError("the gateway exited (code %s); see %s" %
                               (rig.gw.p.returncode, rig.gw.logpath))
        if now >= next_sample:
            samples.append(sample(rig, gens, ctl, t0))
            next_sample += a.sample
        if now >= next_log:
            s = samples[-1]
            log("%4.1f min: RSS %d KiB, %d fds, %s calls active; %s "
                "(placed, answered, failed, up); agent %s (starts, stops, "
                "closed, open); churn %d steps, %d unexpected" % (
                    s["t_s"] / 60, s["rss_kib"], s["fds"], s["active"],
                    ", ".join("%s %s" % (t, s[t]) for t in gens),
                    s["agent"], churn.i, churn.nbad))
            next_log += 60
        if a.churn_interval > 0 and now >= next_churn:
            churn.step()
            next_churn = max(next_churn + a.churn_interval, now - 1.0)
        wake = min(next_sample, next_log, end,
                   next_churn if a.churn_interval > 0 else end)
        time.sleep(max(0.0, min(wake - time.monotonic(), 1.0)))
    return samples, t0


def drain(a, rig, gens, ctl):
    """No new calls; the last ones end by themselves (caller BYE)."""
    for g in gens.values():
        g.cmd("cps 0.000001")
    deadline = time.monotonic() + a.hold * 2 + 30
    while time.monotonic() < deadline:
        busy = sum(c["live"] + c["inviting"] for c in
                   (g.cmd("stats")["calls"] for g in gens.values()))
        if busy == 0:
            break
        time.sleep(0.5)
    for g in gens.values():
        g.cmd("target 0")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if ctl.req("status").get("calls", {}).get("active") == 0:
            break
        time.sleep(0.5)
    time.sleep(2)   # let the agent simulator see the last closes


def account(gens, status, ag):
    """Every call accounted for: (name, ok, detail) checks."""
    g = {t: gen_counts(x.cmd("stats")) for t, x in gens.items()}
    tot = {k: sum(c[k] for c in g.values())
           for k in ("attempted", "answered", "hung_up")}
    calls = status.get("calls", {})
    ended = calls.get("ended", {})
    other = {k: v for k, v in ended.items() if k != "caller-bye" and v}
    refused = status.get("gateway", {}).get("sip_flood_refused", 0)
    n503 = sum(c["codes"].get("503", 0) for c in g.values())
    checks = []
    for t, c in g.items():
        checks += [
            ("%s: every call answered or refused (503)" % t,
             c["answered"] + c["codes"].get("503", 0) == c["attempted"]
             and c["failed"] == c["codes"].get("503", 0),
             "%d placed, %d answered, %d failed %s" %
             (c["attempted"], c["answered"], c["failed"], c["codes"])),
            ("%s: every call hung up by the caller" % t,
             c["hung_up"] == c["answered"] and c["peer_bye"] == 0,
             "%d hung up, %d ended by the gateway" %
             (c["hung_up"], c["peer_bye"])),
            ("%s: no crosstalk" % t, c["crosstalk"] == 0,
             str(c["crosstalk"]))]
    checks += [
        ("gateway: refused over the flood limits = 503s", refused == n503,
         "%d refused, %d 503s" % (refused, n503)),
        ("gateway: started + refused = placed", calls.get("started", 0) +
         refused == tot["attempted"], "%s started, %d refused, %d placed" %
         (calls.get("started"), refused, tot["attempted"])),
        ("gateway: ended by caller BYE = hung up", ended.get("caller-bye")
         == tot["hung_up"], "%s caller-bye, %d hung up" %
         (ended.get("caller-bye"), tot["hung_up"])),
        ("gateway: no other end reason, none active", not other and
         calls.get("active") == 0, "%s, %s active" % (other or "none",
                                                       calls.get("active"))),
        ("agent: a WebSocket and a start per call", ag["conns"] ==
         tot["answered"] and ag["starts"] == tot["answered"],
         "%d connections, %d starts" % (ag["conns"], ag["starts"])),
        ("agent: every call stopped and closed", ag["stops"] ==
         ag["starts"] and ag["closed"] == ag["conns"] and ag["open"] == 0,
         "%d stops, %d closed, %d open" % (ag["stops"], ag["closed"],
                                           ag["open"]))]
    return g, checks


def sanitizer_report(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    return [m.decode() for m in SAN_MARKS if m in data]


def run(a):
    ca, rig, gens = start_rig(a)
    res = {"args": vars(a), "gateway": ca.gateway, "env": cbbench.env_info(
        ca), "transports": a.transports}
    checks, ok = [], False
    ctl = Ctl(os.path.join(a.out, "gw", "ctl.sock"))
    try:
        ctlbin = a.ctl or os.path.join(os.path.dirname(ca.gateway),
                                       "callbridgectl")
        churn = Churn(a, ctl, ctlbin, ctl.path, stable_objects(a, ctl))
        log("soak: gateway pid %d (%s), %s at %g calls/s each, calls of "
            "%d s, %g min" % (rig.gw_pid, ca.gateway, "+".join(
                a.transports), a.cps, a.hold, a.minutes))
        samples, t0 = drive(a, rig, gens, ctl, churn)
        drain(a, rig, gens, ctl)
        idle = sample(rig, gens, ctl, t0)
        idle["fd_kinds"] = fd_kinds(rig.gw_pid)
        churn.finish()
        status = ctl.req("status")
        ag = rig.agent.cmd("stats")
        g, checks = account(gens, status, ag)
        half = slopes(samples, a.minutes * 30)
        res.update(samples=samples, idle_end=idle, calls=g, agent={
                       k: ag[k] for k in ("conns", "closed", "starts",
                                          "stops", "bad", "unknown",
                                          "media_rx", "media_tx")},
                   gateway_status=status, churn=churn.report(),
                   slopes=slopes(samples, min(a.warmup * 60,
                                              a.minutes * 30)),
                   slopes_last_half=half)
        sl = res["slopes"]
        checks += [
            ("control socket: every answer as expected", churn.nbad == 0,
             "%d steps (%d through callbridgectl), %d unexpected" %
             (churn.i, churn.cli, churn.nbad)),
            ("RSS slope (after warm-up; last half)",
             a.max_rss_slope is None or (sl["rss_kib_per_min"] or 0) <=
             a.max_rss_slope, "%s KiB/min after %.0f s; %s KiB/min after "
             "%.0f s%s" % (sl["rss_kib_per_min"], sl["warmup_s"],
                           half["rss_kib_per_min"], half["warmup_s"],
                           "" if a.max_rss_slope is not None else
                           " (reported, not judged)")),
            ("fd slope (after warm-up; last half)",
             a.max_fd_slope is None or (sl["fds_per_min"] or 0) <=
             a.max_fd_slope, "%s fds/min; %s fds/min%s" % (
                 sl["fds_per_min"], half["fds_per_min"],
                 "" if a.max_fd_slope is not None else
                 " (reported, not judged)")),
            ("fds back to idle (+1 per TCP generator's connection)",
             idle["fds"] <= samples[0]["fds"] + a.transports.count("tcp"),
             "%d idle at start %s, %d at end %s" % (
                 samples[0]["fds"], samples[0]["fd_kinds"], idle["fds"],
                 idle["fd_kinds"]))]
        ok = True
    except HarnessError as e:
        log("soak: %s" % e)
        res["error"] = str(e)
    finally:
        ctl.close()
        for g in gens.values():
            if g is not rig.gen:
                res.setdefault("exit_codes", {})[g.name] = g.stop()
        res.setdefault("exit_codes", {}).update(rig.stop())
    san = sanitizer_report(rig.gw.logpath)
    checks += [("gateway: clean exit, no sanitizer report",
                res["exit_codes"].get("gateway") == 0 and not san,
                "exit %s%s" % (res["exit_codes"].get("gateway"),
                               ", " + ", ".join(san) if san else ""))]
    res["checks"] = {n: {"ok": o, "detail": d} for n, o, d in checks}
    res["pass"] = ok and all(o for _, o, _ in checks)
    with open(os.path.join(a.out, "soak.json"), "w") as f:
        json.dump(res, f, indent=1, default=str)
    for n, o, d in checks:
        print("  %-46s %-6s %s" % (n, "ok" if o else "FAILED", d))
    log("soak: %s; results %s" % ("PASS" if res["pass"] else "FAIL",
                                  os.path.join(a.out, "soak.json")))
    return 0 if res["pass"] else 1


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See bench/README.md (Soak with churn).")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--cps", type=float, default=20.0,
                    help="new calls per second, per transport")
    ap.add_argument("--hold", type=int, default=5,
                    help="call length [s] (+0-10 %%, cb-loadgen's spread)")
    ap.add_argument("--transport", default="udp,tcp",
                    help="udp, tcp or both at once (udp,tcp)")
    ap.add_argument("--numbers", type=int, default=10,
                    help="stable numbers the calls go to")
    ap.add_argument("--gateway", help="callbridge binary (e.g. an ASan "
                    "build's)")
    ap.add_argument("--loadgen")
    ap.add_argument("--agentsim")
    ap.add_argument("--ctl", help="callbridgectl (default: beside the "
                    "gateway)")
    ap.add_argument("--out", default="soak-out")
    ap.add_argument("--max-calls", type=int, default=500)
    ap.add_argument("--log-level", default="notice")
    ap.add_argument("--rt", type=int, default=0, metavar="PRIO",
                    help="SCHED_FIFO for cb-agentsim (PRIO) and the "
                    "generators (PRIO + 10), as cbbench.py's --rt: keeps "
                    "a busy machine from stalling the agent past the "
                    "gateway's 3 s close deadline (0: normal priority)")
    ap.add_argument("--gw-set", action="append", default=[],
                    metavar="KEY=VALUE", help="any gateway setting")
    ap.add_argument("--sample", type=float, default=10.0,
                    help="seconds between /proc samples")
    ap.add_argument("--warmup", type=float, default=5.0,
                    help="minutes left out of the slope (at most half "
                    "the run)")
    ap.add_argument("--churn-interval", type=float, default=0.2,
                    help="seconds between control-socket changes (0: "
                    "none)")
    ap.add_argument("--churn-slots", type=int, default=8)
    ap.add_argument("--cli-every", type=int, default=7,
                    help="every Nth change through callbridgectl (0: none)")
    ap.add_argument("--max-rss-slope", type=float, metavar="KIB_PER_MIN",
                    help="fail above this RSS slope after the warm-up "
                    "(default: report only)")
    ap.add_argument("--max-fd-slope", type=float, metavar="FDS_PER_MIN",
                    help="fail above this fd slope after the warm-up "
                    "(default: report only)")
    a = ap.parse_args(argv)
    a.transports = [t.strip() for t in a.transport.split(",") if t.strip()]
    if not a.transports or set(a.transports) - {"udp", "tcp"} or \
            len(set(a.transports)) != len(a.transports):
        ap.error("--transport: udp, tcp or udp,tcp")
    if a.minutes <= 0 or a.cps <= 0 or a.hold < 1 or a.numbers < 1 or \
            a.churn_slots < 1 or a.sample <= 0:
        ap.error("--minutes, --cps, --hold, --numbers, --churn-slots and "
                 "--sample must be positive")
    return a


def main(argv):
    a = parse_args(argv)
    signal.signal(signal.SIGTERM, cbbench.on_sigterm)
    os.makedirs(a.out, exist_ok=True)
    return run(a)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
