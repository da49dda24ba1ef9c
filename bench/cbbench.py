#!/usr/bin/env python3
"""cbbench: the load harness driver for callbridge (or any SIP/WebSocket
gateway).

Modes:
  ramp      step through 25, 50, 100, ... concurrent calls, hold each step,
            measure, stop at the knee (loss or latency over its bound) or
            where the load generators, not the gateway, ran out of CPU
  overload  max_calls M: measure M calls, then offer 150 % of M; the excess
            must get 503 with Retry-After and the admitted calls must keep
            their quality
  soak      hold a fixed load for a while, twice; the second run must not
            grow the gateway's RSS or its open file descriptors
  smoke     5 calls for 3 s: asserts the harness works (CTest bench_smoke);
            never a speed check

With --agent-tls the agent link is wss://: a self-signed certificate made
with openssl into --out, served by cb-agentsim, trusted by the gateway as
its agent_tls_ca.

Everything runs on loopback. By default the driver starts callbridge with a
generated configuration, cb-agentsim and cb-loadgen, and pins the gateway to
one core (--cpu-gw) and both load processes to another (--cpu-load). With
--gw-cpu-quota each media worker gets only that fraction of a core (a
cgroup's CFS quota per worker thread), which is how two workers are
compared with one on a machine with too few cores to give each its own
(see bench/README.md). With
--external it starts only the load side and points it at another gateway
(--target, --agent-listen, --number): see bench/README.md.

Each run writes to --out: results.json, the table (table.txt), PNG plots
(gnuplot), the processes' logs and, with --perf, a CPU profile of the
gateway.
"""

import argparse
import json
import os
import resource
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
DEFAULT_STEPS = "25,50,100,200,400,800,1600,3200,6400"
PINNED = {}         # gateway / load -> the core it is pinned to (alone)
QUOTA = []          # the gateway's CpuQuota, if --gw-cpu-quota
PACING_MS = 20      # a gateway plays agent audio on its own 20 ms tick


class HarnessError(Exception):
    """The harness itself failed (not the gateway under test)."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def now_us():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


# ---------------------------------------------------------------------------
# /proc sampling

def proc_threads(pid):
    """{tid: (comm, cpu_ns, wait_ns)} for every thread of a process: time
    on a CPU, and time runnable but waiting for one (schedstat)."""
    out = {}
    base = "/proc/%d/task" % pid
    try:
        tids = os.listdir(base)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("%s/%s/comm" % (base, tid)) as f:
                comm = f.read().strip()
            with open("%s/%s/schedstat" % (base, tid)) as f:
                st = f.read().split()
                ns, wait = int(st[0]), int(st[1])
        except (OSError, ValueError, IndexError):
            continue
        out[int(tid)] = (comm, ns, wait)
    return out


def proc_stat(pid):
    """(utime_s, stime_s) of a process, all threads, exited ones too."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return (0.0, 0.0)
    fields = data[data.rindex(")") + 2:].split()
    return (int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK)


def proc_rss(pid):
    """Resident set size [bytes]."""
    try:
        with open("/proc/%d/statm" % pid) as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return 0


def proc_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return 0


def udp_counters():
    """Udp: InErrors and RcvbufErrors from /proc/net/snmp (all sockets)."""
    try:
        with open("/proc/net/snmp") as f:
            lines = [ln.split() for ln in f if ln.startswith("Udp:")]
    except OSError:
        return {}
    if len(lines) < 2:
        return {}
    return {k: int(v) for k, v in zip(lines[0][1:], lines[1][1:])}


def cpu_ticks():
    """{cpu: (busy, irq, total)} from /proc/stat, in USER_HZ ticks. busy is
    user + nice + system + irq + softirq (not idle, iowait or steal)."""
    out = {}
    with open("/proc/stat") as f:
        for ln in f:
            if not ln.startswith("cpu") or ln.startswith("cpu "):
                continue
            p = ln.split()
            v = [int(x) for x in p[1:]] + [0] * 8
            busy = v[0] + v[1] + v[2] + v[5] + v[6]
            out[p[0]] = (busy, v[5] + v[6], sum(v[:8]))
    return out


def ksoftirqd_pids():
    """{cpu number: pid} of the kernel's softirq threads."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % d) as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm.startswith("ksoftirqd/"):
            try:
                out[int(comm.split("/")[1])] = int(d)
            except ValueError:
                pass
    return out


KSOFTIRQD = {}


class Sample:
    """A snapshot of the processes and the host.

    CPU time comes from two sources on purpose. schedstat (ns, exact) for
    what our processes and the kernel's softirq threads used. /proc/stat
    and /proc/PID/stat (ticks, sampled at the timer interrupt) to find how
    much the rest of the machine used: both sides sampled alike, so
    "all busy ticks - our ticks" is a fair estimate of other work, even
    for processes that came and went between two samples.
    """

    def __init__(self, pids):
        if not KSOFTIRQD:
            KSOFTIRQD.update(ksoftirqd_pids())
        self.t = time.monotonic()
        self.threads = {name: proc_threads(pid) for name, pid in pids.items()
                        if pid}
        self.stat = {name: proc_stat(pid) for name, pid in pids.items()
                     if pid}
        self.rss = {name: proc_rss(pid) for name, pid in pids.items()
                    if pid}
        self.fds = {name: proc_fds(pid) for name, pid in pids.items()
                    if pid}
        self.udp = udp_counters()
        self.cpus = cpu_ticks()
        self.ksirq = {cpu: (proc_threads(pid), proc_stat(pid))
                      for cpu, pid in KSOFTIRQD.items()}
        self.quota = QUOTA[0].stat() if QUOTA and QUOTA[0].groups else None


def cpu_between(a, b, name):
    """CPU seconds a process used between two samples, and per thread."""
    ta, tb = a.threads.get(name, {}), b.threads.get(name, {})
    per = {}
    total = wait = 0
    for tid, (comm, ns, w) in tb.items():
        old = ta.get(tid, (comm, 0, 0))
        total += ns - old[1]
        wait += w - old[2]
        per[comm] = per.get(comm, 0) + (ns - old[1]) / 1e9
    ua, sa_ = a.stat.get(name, (0, 0))
    ub, sb = b.stat.get(name, (0, 0))
    return {"cpu_s": total / 1e9, "wait_s": wait / 1e9, "user_s": ub - ua,
            "sys_s": sb - sa_,
            "threads": {k: round(v, 4) for k, v in sorted(per.items())}}


# ---------------------------------------------------------------------------
# child processes

def parse_cpus(text):
    """'0' or '0,1' -> a set of core numbers"""
    try:
        cpus = {int(x) for x in text.split(",") if x.strip() != ""}
    except ValueError:
        raise argparse.ArgumentTypeError("cores: N or N,M,...: %r" % text)
    if not cpus or min(cpus) < 0:
        raise argparse.ArgumentTypeError("cores: N or N,M,...: %r" % text)
    return cpus


class CpuQuota:
    """One cgroup per media worker thread, each giving its thread `frac`
    of a core's time per `period_ms` (CFS bandwidth control, cgroup v1's
    cpu controller: v1 alone puts single threads of a process in
    different groups through `tasks`). So every worker gets a core of
    its own, only smaller: what two workers carry against one can be
    measured on a machine without a free core per worker. A quota shared
    by the whole process would not do: two workers running at once spend
    it twice as fast, and a burst then stalls every call."""

    ROOT = "/sys/fs/cgroup/cpu"

    def __init__(self, frac, period_ms):
        self.frac = frac
        self.period = int(period_ms * 1000)
        self.groups = {}
        if not os.path.exists(os.path.join(self.ROOT, "cpu.cfs_period_us")):
            raise HarnessError("--gw-cpu-quota: needs cgroup v1's cpu "
                               "controller at %s" % self.ROOT)

    def add_thread(self, name, tid):
        path = os.path.join(self.ROOT, "cbbench.%d.%s" % (os.getpid(), name))
        try:
            os.mkdir(path)
            self.groups[name] = path
            for f, v in (("cpu.cfs_period_us", self.period),
                         ("cpu.cfs_quota_us", int(self.frac * self.period)),
                         ("tasks", tid)):
                with open(os.path.join(path, f), "w") as fh:
                    fh.write(str(v))
        except OSError as e:
            raise HarnessError("--gw-cpu-quota: cgroup %s: %s" % (path, e))

    def stat(self):
        """(periods, throttled periods, throttled time [s]), all groups"""
        tot = [0, 0, 0.0]
        for path in self.groups.values():
            st = {}
            try:
                with open(os.path.join(path, "cpu.stat")) as f:
                    for ln in f:
                        k, _, v = ln.partition(" ")
                        st[k] = int(v)
            except (OSError, ValueError):
                continue
            tot[0] += st.get("nr_periods", 0)
            tot[1] += st.get("nr_throttled", 0)
            tot[2] += st.get("throttled_time", 0) / 1e9
        return tuple(tot)

    def remove(self):
        for path in self.groups.values():
            try:
                os.rmdir(path)   # once its thread has exited
            except OSError:
                pass
        self.groups = {}


class Child:
    """A process we started; talks JSON lines over stdin/stdout if asked."""

    def __init__(self, name, argv, logdir, cpu=None, control=True,
                 env=None, rt=0, nice=0):
        self.name = name
        self.logpath = os.path.join(logdir, name + ".log")
        self.logf = open(self.logpath, "wb")
        self.control = control

        def pre():
            os.setpgid(0, 0)
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            if cpu is not None:
                os.sched_setaffinity(0, cpu)
            if nice:
                try:
                    os.nice(nice)
                except OSError:
                    pass   # not allowed: runs at normal priority
            if rt:
                try:
                    os.sched_setscheduler(0, os.SCHED_FIFO,
                                          os.sched_param(rt))
                except OSError:
                    pass   # not allowed: runs at normal priority

        self.p = subprocess.Popen(
            argv, stdin=subprocess.PIPE if control else subprocess.DEVNULL,
            stdout=subprocess.PIPE if control else self.logf,
            stderr=self.logf, preexec_fn=pre, env=env)
        self.pid = self.p.pid
        self.buf = b""

    def alive(self):
        return self.p.poll() is None

    def cmd(self, line, timeout=10.0):
        """Send a command, return the JSON object it answers with."""
        if not self.alive():
            raise HarnessError("%s exited (code %s); see %s" %
                               (self.name, self.p.returncode, self.logpath))
        try:
            self.p.stdin.write((line + "\n").encode())
            self.p.stdin.flush()
        except BrokenPipeError:
            raise HarnessError("%s is gone; see %s" %
                               (self.name, self.logpath))
        deadline = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HarnessError("%s did not answer '%s' in %.0f s" %
                                   (self.name, line, timeout))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise HarnessError("%s closed its output; see %s" %
                                       (self.name, self.logpath))
                self.buf += chunk
        line_out, self.buf = self.buf.split(b"\n", 1)
        try:
            return json.loads(line_out)
        except ValueError:
            raise HarnessError("%s answered with bad JSON: %r" %
                               (self.name, line_out[:200]))

    def stop(self, timeout=10.0):
        if self.p.poll() is None:
            if self.control:
                try:
                    self.p.stdin.write(b"quit\n")
                    self.p.stdin.flush()
                except (BrokenPipeError, ValueError):
                    pass
            else:
                self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.send_signal(signal.SIGTERM)
                try:
                    self.p.wait(5)
                except subprocess.TimeoutExpired:
                    self.p.kill()
                    self.p.wait(5)
        self.logf.close()
        return self.p.returncode


def make_agent_cert(outdir):
    """A self-signed certificate for cb-agentsim's wss:// listener, made
    once per run; the gateway trusts it as its agent_tls_ca."""
    d = os.path.abspath(os.path.join(outdir, "agent-tls"))
    os.makedirs(d, exist_ok=True)
    cert = os.path.join(d, "cert.pem")
    key = os.path.join(d, "key.pem")
    argv = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-days", "2", "-subj", "/CN=localhost", "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", key, "-out", cert]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        raise HarnessError("--agent-tls: cannot run openssl: %s" % e)
    if p.returncode != 0:
        raise HarnessError("--agent-tls: openssl req failed (code %d): %s" %
                           (p.returncode, p.stderr.strip()[-500:]))
    return cert, key


def free_port(kind=socket.SOCK_STREAM, host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, kind)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_port_both(host="127.0.0.1"):
    """A port free for UDP and TCP (SIP listens on both)."""
    for _ in range(50):
        p = free_port(socket.SOCK_DGRAM, host)
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind((host, p))
            return p
        except OSError:
            continue
        finally:
            t.close()
    raise HarnessError("no free port for SIP")


# ---------------------------------------------------------------------------
# the setup

class Rig:
    """The gateway (unless external), the agent simulator, the generator."""

    def __init__(self, a, outdir):
        self.a = a
        self.out = outdir
        self.gw = self.agent = self.gen = None
        self.gw_pid = a.gateway_pid if a.external else None
        self.callgrind = bool(a.gw_wrap and "callgrind" in a.gw_wrap)
        self.scheme = "wss" if a.agent_tls else "ws"
        self.tls_cert = self.tls_key = None
        self.quota = None

    # -- gateway configuration
    def write_gateway_config(self, sip_port, agent_port, max_calls):
        a = self.a
        d = os.path.join(self.out, "gw")
        os.makedirs(d, exist_ok=True)
        numbers = []
        base = int(a.number.lstrip("+"))
        for i in range(a.numbers):
            numbers.append({
                "number": "+%d" % (base + i),
                "friendly_name": "bench %d" % i,
                "trunk_id": "bench",
                "inbound_agent_id": "bench",
                "outbound_agent_id": None,
                "outbound_shareable": False})
        agent = {"id": "bench", "name": "cb-agentsim",
                 "url": "%s://127.0.0.1:%d/bench" % (self.scheme,
                                                     agent_port),
                 "protocol": a.agent_proto,
                 "audio": {"encoding": a.agent_format,
                           "sample_rate": a.agent_rate}}
        seed = {"format": 2, "agents": [agent],
                "trunks": [{"id": "bench", "name": "cb-loadgen",
                            "kind": "byoc", "media_encryption": "none",
                            "inbound": {"allowed_sources": ["127.0.0.0/8"]},
                            "outbound": {"address": "127.0.0.1",
                                         "port": 5080, "transport": "udp"}}],
                "numbers": numbers}
        with open(os.path.join(d, "seed.json"), "w") as f:
            json.dump(seed, f, indent=1)
        for stale in ("state.json",):
            try:
                os.unlink(os.path.join(d, stale))
            except FileNotFoundError:
                pass
        conf = {
            "sip_listen": "udp:127.0.0.1:%d tcp:127.0.0.1:%d" %
                          (sip_port, sip_port),
            "rtp_address": "127.0.0.1",
            "rtp_port_min": "10000",
            "rtp_port_max": "30999",
            "control_socket": os.path.join(d, "ctl.sock"),
            "state_file": os.path.join(d, "state.json"),
            "state_seed": os.path.join(d, "seed.json"),
            "log_level": a.log_level,
            "workers": str(a.workers),
            "max_calls": str(max_calls),
            "agent_connect_timeout_ms": "10000",
        }
        if self.tls_cert:
            # the agent's self-signed certificate is the only CA trusted
            conf["agent_tls_ca"] = self.tls_cert
        for kv in a.gw_set:
            k, _, v = kv.partition("=")
            conf[k.strip()] = v.strip()
        path = os.path.join(d, "callbridge.conf")
        with open(path, "w") as f:
            f.write("# written by bench/cbbench.py\n")
            for k, v in conf.items():
                f.write("%s %s\n" % (k, v))
        return path, conf

    def start(self, max_calls):
        a = self.a
        pin = not a.no_pin and len(os.sched_getaffinity(0)) > 1
        cpu_gw = a.cpu_gw if pin else None
        cpu_load = a.cpu_load if pin else None

        tls_args = []
        if a.agent_tls:
            if not self.tls_cert:
                self.tls_cert, self.tls_key = make_agent_cert(self.out)
            tls_args = ["--tls-cert", self.tls_cert,
                        "--tls-key", self.tls_key]

        if a.external:
            self.target = a.target
            host, _, port = a.agent_listen.rpartition(":")
            self.agent_host, self.agent_port = host, int(port)
        else:
            sip_port = free_port_both()
            self.agent_host, self.agent_port = "127.0.0.1", free_port()
            self.target = "127.0.0.1:%d" % sip_port
            conf, self.conf = self.write_gateway_config(
                sip_port, self.agent_port, max_calls)
            env = dict(os.environ)
            wrap = shlex.split(a.gw_wrap) if a.gw_wrap else []
            self.gw = Child("gateway", wrap + [a.gateway, "--config", conf],
                            self.out, cpu=cpu_gw, control=False, env=env,
                            nice=a.gw_nice)
            self.gw_pid = self.gw.pid
            self.wait_gateway(os.path.join(self.out, "gw", "ctl.sock"))
            if a.gw_cpu_quota:
                self.quota_workers()

        self.agent = Child(
            "agentsim",
            [a.agentsim, "--audio", a.audio, "--addr", self.agent_host,
             "--port", str(self.agent_port), "--mode", a.agent_mode,
             "--period-ms", str(a.period_ms)] + tls_args + a.agentsim_arg,
            self.out, cpu=cpu_load, rt=a.rt)
        self.gen = self.start_loadgen("loadgen", a.sip_tcp, cpu_load)
        # both answer once their set-up is done (audio loaded, tape made)
        self.agent.cmd("reset", timeout=30)
        self.gen.cmd("reset", timeout=60)
        self.pinned = {"gateway": sorted(cpu_gw) if cpu_gw else None,
                       "load": sorted(cpu_load) if cpu_load else None}
        # a core's IRQ time is the gateway's only when it runs there alone
        alone = (cpu_gw and len(cpu_gw) == 1 and
                 not (cpu_load and cpu_gw & cpu_load))
        PINNED.update({"gateway": min(cpu_gw) if alone else None})

    def start_loadgen(self, name, tcp, cpu):
        """A cb-loadgen aimed at the gateway (SIP over TCP if tcp); the
        caller waits for its first answer (set-up done)."""
        a = self.a
        return Child(
            name,
            [a.loadgen, "--target", self.target, "--audio", a.audio,
             "--number", a.number, "--numbers", str(a.numbers),
             "--codec", a.codec, "--stamp", a.stamp,
             "--period-ms", str(a.period_ms), "--cps", str(a.cps)]
            + (["--tcp"] if tcp else []) + a.loadgen_arg,
            self.out, cpu=cpu, rt=a.rt + 10 if a.rt else 0)

    def quota_workers(self):
        """--gw-cpu-quota: each media worker thread into its own group"""
        self.quota = CpuQuota(self.a.gw_cpu_quota, self.a.gw_cpu_period_ms)
        QUOTA[:] = [self.quota]
        task = "/proc/%d/task" % self.gw_pid
        for tid in sorted(os.listdir(task)):
            try:
                with open(os.path.join(task, tid, "comm")) as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm.startswith("cb-media-"):
                self.quota.add_thread(comm, tid)
        if len(self.quota.groups) != self.a.workers:
            raise HarnessError("--gw-cpu-quota: found %d media worker "
                               "threads, want %d" %
                               (len(self.quota.groups), self.a.workers))

    def wait_gateway(self, ctl_sock):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if not self.gw.alive():
                raise HarnessError("the gateway exited at start (code %s); "
                                   "see %s" % (self.gw.p.returncode,
                                               self.gw.logpath))
            with open(self.gw.logpath, "rb") as f:
                if b" ready" in f.read():
                    return
            time.sleep(0.1)
        raise HarnessError("the gateway did not become ready; see %s" %
                           self.gw.logpath)

    def pids(self):
        return {"gateway": self.gw_pid,
                "loadgen": self.gen.pid if self.gen else None,
                "agentsim": self.agent.pid if self.agent else None}

    def stop(self):
        rc = {}
        for ch in (self.gen, self.agent):
            if ch:
                rc[ch.name] = ch.stop()
        if self.gw:
            rc["gateway"] = self.gw.stop(timeout=20)
        if self.quota:
            self.quota.remove()
            self.quota = None
        return rc


# ---------------------------------------------------------------------------
# measuring

def wait_calls(rig, n, timeout):
    """Wait until n calls are live (or no call is being set up)."""
    deadline = time.monotonic() + timeout
    st = None
    while time.monotonic() < deadline:
        st = rig.gen.cmd("stats")
        c = st["calls"]
        if c["live"] >= n or (c["inviting"] == 0 and c["waiting"] == 0 and
                              c["live"] + c["dead"] >= n):
            return st
        if c["live"] + c["inviting"] == 0 and c["target"] == 0:
            return st
        time.sleep(0.25)
    return st


def wait_idle(rig, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c = rig.gen.cmd("stats")["calls"]
        if c["live"] + c["inviting"] == 0:
            return True
        time.sleep(0.25)
    return False


def pct(a, b):
    return 100.0 * a / b if b else 0.0


def ms(h, key):
    v = h.get(key) if h else None
    return None if v is None or h.get("n", 0) == 0 else v / 1000.0


class Window:
    """What our processes and the machine did between two samples."""

    def __init__(self, s0, s1):
        self.dt = s1.t - s0.t
        self.cpu = {n: cpu_between(s0, s1, n) for n in s1.threads}
        # softirq threads: exact run time, and their ticks
        self.ksirq = {}
        for cpu, (th1, st1) in s1.ksirq.items():
            th0, st0 = s0.ksirq.get(cpu, ({}, (0, 0)))
            ns = sum(v[1] - th0.get(t, (0, 0, 0))[1] for t, v in th1.items())
            self.ksirq[cpu] = [ns / 1e9, st1[0] + st1[1] - st0[0] - st0[1]]
        # ticks of our processes (all threads, exited ones too)
        self.our_ticks_s = sum(
            (s1.stat[n][0] + s1.stat[n][1]) - (s0.stat[n][0] + s0.stat[n][1])
            for n in s1.stat if n in s0.stat)
        self.cores = {}
        for cpu, (busy, irq, tot) in s1.cpus.items():
            pa = s0.cpus.get(cpu)
            if pa:
                self.cores[cpu] = [busy - pa[0], irq - pa[1], tot - pa[2]]
        self.udp = {k: s1.udp.get(k, 0) - s0.udp.get(k, 0)
                    for k in ("InErrors", "RcvbufErrors", "NoPorts",
                              "InDatagrams")}
        self.quota = None
        if s0.quota and s1.quota:
            self.quota = [s1.quota[i] - s0.quota[i] for i in range(3)]

    def foreign_pct(self):
        """CPU used by other work on the machine [% of a core]: all busy
        ticks less those of our processes and of the softirq threads,
        which carry our packets."""
        if self.dt <= 0:
            return 0.0
        busy = sum(b for b, irq, tot in self.cores.values()) / CLK_TCK
        ksirq = sum(v[1] for v in self.ksirq.values()) / CLK_TCK
        return max(0.0, 100.0 * (busy - self.our_ticks_s - ksirq) /
                   self.dt)

    def wait_pct(self):
        """How long the gateway's threads waited for a CPU while runnable
        [% of the time]. Recorded only: IRQ work on its core (the kernel
        delivering the packets it sends) counts here too, so this rises
        as the core fills up, disturbed or not."""
        c = self.cpu.get("gateway")
        if self.dt <= 0 or not c:
            return 0.0
        return 100.0 * c["wait_s"] / self.dt

    def irq_s(self, cpu):
        """Run time of one core's softirq thread [s]: the network work
        the kernel deferred there (work done at once is charged to the
        process that sent the packet)."""
        v = self.ksirq.get(cpu)
        return v[0] if v else 0.0

    def disturbed(self, a):
        """Other processes on the machine ran more than --max-foreign."""
        return self.foreign_pct() > a.max_foreign

    def add(self, w):
        self.dt += w.dt
        for n, c in w.cpu.items():
            mine = self.cpu.setdefault(n, {"cpu_s": 0.0, "wait_s": 0.0,
                                            "user_s": 0.0, "sys_s": 0.0,
                                            "threads": {}})
            for k in ("cpu_s", "wait_s", "user_s", "sys_s"):
                mine[k] += c[k]
            for t, v in c["threads"].items():
                mine["threads"][t] = round(mine["threads"].get(t, 0) + v, 4)
        for cpu, v in w.cores.items():
            mine = self.cores.setdefault(cpu, [0, 0, 0])
            for i in range(3):
                mine[i] += v[i]
        for k, v in w.udp.items():
            self.udp[k] = self.udp.get(k, 0) + v
        for cpu, v in w.ksirq.items():
            mine = self.ksirq.setdefault(cpu, [0.0, 0])
            mine[0] += v[0]
            mine[1] += v[1]
        self.our_ticks_s += w.our_ticks_s
        if w.quota:
            self.quota = [x + y for x, y in
                          zip(self.quota or [0, 0, 0], w.quota)]


def measure(rig, calls, hold, perf=None, stop_on_spoil=False):
    """Hold the current load for `hold` s of clean windows; the figures.

    The hold is cut into windows of --window s. A window in which other
    processes on the machine used more than --max-foreign % of a core is
    dropped (both load processes forget its figures too) and the hold
    goes on, up to --max-wall times its length. If no window was clean by
    then, the last one is kept and the step is marked invalid. With
    stop_on_spoil, the first spoiled window ends the measurement (None).
    """
    a = rig.a
    rig.gen.cmd("reset")
    rig.agent.cmd("reset")
    if rig.callgrind:
        # with --instr-atstart=no (set-up is not measured, and a dump
        # taken after zeroing a run instrumented from the start holds no
        # per-function costs) instrumentation starts here
        callgrind_ctl(rig, "-i", "on")
        callgrind_ctl(rig, "-z")
    perf_proc = None
    if perf and rig.gw_pid:
        perf_proc = start_perf(rig, hold, perf)
    strace_proc = None
    if a.strace and rig.gw_pid:
        strace_path = os.path.join(rig.out, "strace-%d.txt" % calls)
        strace_proc = subprocess.Popen(
            ["strace", "-c", "-f", "-p", str(rig.gw_pid), "-o",
             strace_path], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
    acc = None
    dropped = []
    wall_end = time.monotonic() + hold * a.max_wall
    while True:
        left = hold - (acc.dt if acc else 0.0)
        if left <= 0.05:
            break
        s0 = Sample(rig.pids())
        end = time.monotonic() + min(a.window, left)
        while time.monotonic() < end:
            time.sleep(min(0.25, max(0.0, end - time.monotonic())))
            if rig.gw and not rig.gw.alive():
                raise HarnessError("the gateway died during the step "
                                   "(code %s); see %s" %
                                   (rig.gw.p.returncode, rig.gw.logpath))
        s1 = Sample(rig.pids())
        w = Window(s0, s1)
        last_chance = time.monotonic() + a.window > wall_end
        if not w.disturbed(a) or (last_chance and not acc):
            rig.gen.cmd("commit")
            rig.agent.cmd("commit")
            if acc:
                acc.add(w)
            else:
                acc = w
        else:
            rig.gen.cmd("drop")
            rig.agent.cmd("drop")
            dropped.append(round(w.foreign_pct(), 1))
            if stop_on_spoil:
                if perf_proc:
                    finish_perf(perf_proc)
                if strace_proc:
                    strace_proc.send_signal(signal.SIGINT)
                    strace_proc.wait(30)
                return None
        if last_chance:
            break
    g = rig.gen.cmd("stats")
    ag = rig.agent.cmd("stats")
    if perf_proc:
        finish_perf(perf_proc)
    r = summarize(calls, acc, s1, g, ag)
    r["windows_dropped"] = dropped
    if strace_proc:
        strace_proc.send_signal(signal.SIGINT)
        try:
            strace_proc.wait(30)
        except subprocess.TimeoutExpired:
            strace_proc.kill()
        r["syscalls"] = strace_summary(strace_path, r)
    if rig.callgrind:
        r["callgrind"] = callgrind_dump(rig, calls, r)
    return r


def strace_summary(path, r):
    """Syscalls of the gateway per media packet (RTP and WebSocket, both
    ways) from strace -c: only the order of magnitude is meaningful, as
    tracing slows every call down."""
    calls = {}
    try:
        with open(path) as f:
            for ln in f:
                p = ln.split()
                if len(p) >= 5 and p[-1] not in ("syscall", "total") and \
                        p[0][0].isdigit():
                    n = int(p[3])
                    calls[p[-1]] = calls.get(p[-1], 0) + n
    except (OSError, ValueError):
        return None
    g = r["raw"]["loadgen"]
    pkts = g["tx"]["pkts"] + g["rx"]["pkts"]
    total = sum(calls.values())
    out = {"file": path, "total": total,
           "top": dict(sorted(calls.items(), key=lambda kv: -kv[1])[:8])}
    if pkts:
        # the trace ran a little longer than the statistics' windows
        out["per_media_packet"] = round(total / (2.0 * pkts), 2)
    return out


def callgrind_ctl(rig, *args):
    subprocess.run(["callgrind_control"] + list(args) + [str(rig.gw_pid)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=60)


def callgrind_dump(rig, calls, r):
    """Dump the step's profile; instructions per call-second from it."""
    before = set(os.listdir(rig.out))
    callgrind_ctl(rig, "-d", "step-%d" % calls)
    deadline = time.monotonic() + 30
    new = []
    while time.monotonic() < deadline and not new:
        time.sleep(0.5)
        new = [f for f in set(os.listdir(rig.out)) - before
               if f.startswith("callgrind.out")]
    if not new:
        log("callgrind: no dump appeared")
        return None
    path = os.path.join(rig.out, sorted(new)[-1])
    ir = None
    with open(path, errors="replace") as f:
        for ln in f:
            if ln.startswith(("summary:", "totals:")):
                ir = int(ln.split()[1])
                break
    out = {"file": path, "ir": ir}
    if ir and r["live"]:
        out["ir_per_call_s"] = round(ir / (r["live"] * r["hold_s"]))
    return out


def summarize(calls, w, last, g, ag):
    """The figures of a step: w, the kept windows; last, the last sample."""
    dt = w.dt
    r = {"calls": calls, "hold_s": round(dt, 2)}
    for name in ("gateway", "loadgen", "agentsim"):
        if name in w.cpu:
            c = dict(w.cpu[name])
            c["cpu_pct"] = round(100.0 * c["cpu_s"] / dt, 1)
            c["rss"] = last.rss.get(name, 0)
            c["fds"] = last.fds.get(name, 0)
            r[name] = c
    r["cores"] = {cpu: {"busy_pct": round(100.0 * b / tot, 1),
                        "irq_pct": round(100.0 * irq / tot, 1)}
                  for cpu, (b, irq, tot) in w.cores.items() if tot}
    r["ksoftirqd_pct"] = {cpu: round(100.0 * v[0] / dt, 2)
                          for cpu, v in w.ksirq.items()}
    r["udp"] = w.udp
    live = g["calls"]["live"]
    r["live"] = live
    if "gateway" in r:
        # with the gateway alone on its core, the IRQ time of that core is
        # the kernel's network work done there on its behalf (loopback
        # delivery runs in the sender's context, and IRQ time is not
        # charged to any task): part of what one more call costs
        cpu = PINNED.get("gateway")
        irq = w.irq_s(cpu) if cpu is not None else 0.0
        r["gateway"]["irq_s"] = round(irq, 4)
        r["gw_core_pct"] = round(100.0 * (r["gateway"]["cpu_s"] + irq) /
                                 dt, 1)
        if live:
            r["gw_task_ms_per_call_s"] = round(
                1000.0 * r["gateway"]["cpu_s"] / (live * dt), 4)
            r["gw_ms_per_call_s"] = round(
                1000.0 * (r["gateway"]["cpu_s"] + irq) / (live * dt), 4)
    load_cpu = sum(r[n]["cpu_s"] for n in ("loadgen", "agentsim") if n in r)
    r["load_cpu_pct"] = round(100.0 * load_cpu / dt, 1)
    if w.quota and w.quota[0]:
        # --gw-cpu-quota: how often the gateway used up its share
        r["gw_throttled_pct"] = round(100.0 * w.quota[1] / w.quota[0], 2)
        r["gw_throttled_s"] = round(w.quota[2], 3)
    r["foreign_cpu_pct"] = round(w.foreign_pct(), 1)
    r["wait_pct"] = {n: round(100.0 * c["wait_s"] / dt, 2)
                     for n, c in w.cpu.items()}

    # loss, each direction
    m = g["media"]
    up_frames = ag["stamped"] + ag["stamp_lost"]
    r["up_loss_pct"] = round(pct(ag["stamp_lost"] + ag["ws_gap"],
                                 max(up_frames, ag["media_rx"])), 4)
    # down: RTP lost on the way to us, and (byte stamps) frames of the
    # agent's own numbering that never came back
    rtp_rx = g["rx"]["pkts"] + g["rx"]["lost"]
    r["down_loss_pct"] = round(max(pct(g["rx"]["lost"], rtp_rx),
                                   pct(m["down_lost"], m["stamped"] +
                                       m["down_lost"])), 4)
    r["echo_loss_pct"] = round(pct(m["echo_lost"], m["stamped"] +
                                   m["echo_lost"]), 4)
    # onset mode: markers expected vs seen
    period_s = None
    if g["stamp"] == "onset" and live:
        period_s = rig_period_s
        exp = live * dt / period_s
        r["up_markers_pct"] = round(pct(ag["onsets"], exp), 1)
        r["down_markers_pct"] = round(pct(m["onsets"], exp), 1)
    r["crosstalk"] = m["crosstalk"] + ag["crosstalk"]
    r["corrupt"] = m["corrupt"] + ag["corrupt"]
    r["udp_errors"] = r["udp"]["InErrors"]
    r["lat"] = {"up": ag["up"], "up_var": ag["up_var"], "down": m["down"],
                "down_var": m["down_var"], "rt": m["rt"]}
    r["rtp_jitter_us"] = {"mean": g["rx"]["jitter_us_mean"],
                          "max": g["rx"]["jitter_us_max"]}
    r["ws_jitter_us"] = {"mean": ag["ws_jitter_us_mean"],
                         "max": ag["ws_jitter_us_max"]}
    r["gen_late"] = g["tx"]["late"]
    r["gen_skipped"] = g["tx"]["skipped"]
    r["marks"] = {"sent": ag["marks_sent"], "echoed": ag["marks_echoed"],
                  "lost": ag["marks_lost"], "lag": ag["mark_lag"],
                  "clears": ag["clears"], "clear_lag": ag["clear_lag"]}
    r["raw"] = {"loadgen": g, "agentsim": ag}
    return r


def validity(a, r):
    """Why a step says nothing about the gateway (None if it is valid)."""
    why = []
    if r["load_cpu_pct"] > a.load_cpu_limit:
        why.append("load generators at %.0f%% CPU" % r["load_cpu_pct"])
    late = r["gen_late"]
    if late.get("n") and late["p99"] > a.gen_late_ms * 1000:
        why.append("generator sends late (p99 %.1f ms)" %
                   (late["p99"] / 1000))
    if r["gen_skipped"]:
        why.append("generator skipped %d frames" % r["gen_skipped"])
    if not r.get("clean", True):
        why.append("disturbed: other processes used up to %.0f%% of a "
                   "core" % max([r["foreign_cpu_pct"]] +
                                r.get("windows_dropped", [])))
    return "; ".join(why) or None


def knee(a, r, base=None):
    """Why a step is past the knee (None if within bounds).

    Latency bounds are relative to the first valid step of the run (base):
    p99 may rise by --max-p99-ms in each direction (down: above the base
    or the 20 ms playout tick, whichever is more). Without a base, the
    bounds are absolute: --max-p99-ms up, that plus the 20 ms tick down.
    Loss and crossed audio are absolute.
    """
    why = []
    if r["live"] < r["calls"]:
        why.append("%d of %d calls up" % (r["live"], r["calls"]))
    for d in ("up", "down"):
        if r[d + "_loss_pct"] > a.max_loss:
            why.append("%s loss %.3f%%" % (d, r[d + "_loss_pct"]))
    b = base or {}
    bounds = {
        "up": (ms(b["lat"]["up"], "p99") or 0.0) if b else 0.0,
        # a frame may wait up to one 20 ms playout tick, depending on the
        # call's phase: that spread is no sign of load
        "down": max((ms(b["lat"]["down"], "p99") or 0.0) if b else 0.0,
                    PACING_MS),
    }
    for d in ("up", "down"):
        h = r["lat"][d]
        v = ms(h, "p99")
        if v is not None and v > bounds[d] + a.max_p99_ms:
            why.append("%s p99 %.1f ms (bound %.1f)" %
                       (d, v, bounds[d] + a.max_p99_ms))
        if h.get("n") and h.get("neg", 0) > 0.005 * h["n"]:
            why.append("%s latency beyond the markers' range" % d)
    if r["crosstalk"]:
        why.append("%d frames reached the wrong call" % r["crosstalk"])
    return "; ".join(why) or None


# ---------------------------------------------------------------------------
# perf

def start_perf(rig, hold, path):
    perf = shutil.which("perf")
    if not perf:
        log("perf not found: no profile")
        return None
    data = path + ".data"
    argv = [perf, "record", "-e", "cpu-clock", "-F", "997", "-g",
            "-p", str(rig.gw_pid), "-o", data, "--", "sleep",
            str(max(1, int(hold) - 1))]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    return (p, data, path)


def finish_perf(pp):
    p, data, path = pp
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    perf = shutil.which("perf")
    with open(path + ".txt", "w") as f:
        for args in (["--no-children", "--sort", "symbol"],
                     ["--no-children", "--sort", "dso"]):
            subprocess.run([perf, "report", "-i", data, "--stdio",
                            "--percent-limit", "0.5", "-g", "none"] + args,
                           stdout=f, stderr=subprocess.DEVNULL)
    log("profile: %s.txt" % path)


# ---------------------------------------------------------------------------
# output

COLS = [
    ("calls", 6, lambda r: "%d" % r["calls"]),
    ("ok", 3, lambda r: "no" if r.get("invalid") else
     ("KNEE" if r.get("knee") else "yes")),
    ("gwCPU%", 7, lambda r: "%.1f" % r["gateway"]["cpu_pct"]
     if "gateway" in r else "-"),
    ("+IRQ%", 6, lambda r: "%.1f" % r["gw_core_pct"]
     if "gw_core_pct" in r else "-"),
    ("ms/call-s", 9, lambda r: "%.3f" % r["gw_ms_per_call_s"]
     if "gw_ms_per_call_s" in r else "-"),
    ("loadCPU%", 8, lambda r: "%.1f" % r["load_cpu_pct"]),
    ("other%", 6, lambda r: "%.0f" % r.get("foreign_cpu_pct", 0)),
    ("RSS MiB", 7, lambda r: "%.1f" % (r["gateway"]["rss"] / 2**20)
     if "gateway" in r else "-"),
    ("KiB/call", 8, lambda r: "%.1f" % r["kib_per_call"]
     if "kib_per_call" in r else "-"),
    ("fds", 6, lambda r: "%d" % r["gateway"]["fds"]
     if "gateway" in r else "-"),
    ("udpErr", 6, lambda r: "%d" % r["udp_errors"]),
    ("loss% up/dn", 13, lambda r: "%.3f/%.3f" % (r["up_loss_pct"],
                                                  r["down_loss_pct"])),
    ("up ms p50/p99/p99.9", 20, lambda r: fmt3(r["lat"]["up"])),
    ("down ms p50/p99/p99.9", 22, lambda r: fmt3(r["lat"]["down"])),
    ("setup/s", 7, lambda r: "%.0f" % r["setup_rate"]
     if r.get("setup_rate") else "-"),
    ("setup ms p50/p99", 16, lambda r: "%s/%s" % (
        fmt1(r["setup"]["setup_ms"], "p50"),
        fmt1(r["setup"]["setup_ms"], "p99")) if "setup" in r else "-"),
    ("fail", 4, lambda r: "%d" % r.get("setup_failed", 0)),
    ("thr%", 5, lambda r: "%.1f" % r["gw_throttled_pct"]
     if "gw_throttled_pct" in r else "-"),
]


def fmt1(h, k):
    v = ms(h, k)
    return "-" if v is None else "%.2f" % v


def fmt3(h):
    if not h or not h.get("n"):
        return "-"
    return "%.2f/%.2f/%.2f" % (h["p50"] / 1000, h["p99"] / 1000,
                               h["p999"] / 1000)


def table(rows):
    head = " ".join(n.rjust(w) for n, w, _ in COLS)
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(" ".join(f(r).rjust(w) for _, w, f in COLS))
    return "\n".join(lines)


def plots(outdir, rows, title):
    gp = shutil.which("gnuplot")
    good = [r for r in rows if "gateway" in r]
    if not gp or not good:
        log("no plots (%s)" % ("no gnuplot" if not gp else "no data"))
        return []
    dat = os.path.join(outdir, "steps.dat")
    with open(dat, "w") as f:
        f.write("# calls gw_ms_per_call_s load_cpu_pct gw_core_pct "
                "rss_mib kib_per_call up50 up99 up999 dn50 dn99 dn999 "
                "dv99 valid gw_task_ms_per_call_s gw_task_pct\n")
        for r in good:
            L = r["lat"]
            f.write("%d %s %s %s %.2f %s %s %s %s %s %s %s %s %d %s %s\n" % (
                r["calls"], r.get("gw_ms_per_call_s", "NaN"),
                r["load_cpu_pct"], r.get("gw_core_pct", "NaN"),
                r["gateway"]["rss"] / 2**20, r.get("kib_per_call", "NaN"),
                fmt1(L["up"], "p50"), fmt1(L["up"], "p99"),
                fmt1(L["up"], "p999"), fmt1(L["down"], "p50"),
                fmt1(L["down"], "p99"), fmt1(L["down"], "p999"),
                fmt1(L["down_var"], "p99"),
                0 if r.get("invalid") else 1,
                r.get("gw_task_ms_per_call_s", "NaN"),
                r["gateway"]["cpu_pct"]))
    out = []
    common = ('set terminal pngcairo size 1100,560 font ",10"\n'
              'set logscale x 2\nset grid\nset key outside right top\n'
              'set datafile missing "-"\n'
              'set xlabel "concurrent calls"\n')
    specs = [
        ("cpu.png",
         'set title "CPU per call: %s"\n'
         'set ylabel "ms CPU per call-second"\nset yrange [0:*]\n'
         'set y2label "CPU [%% of one core]"\nset y2tics\nset ytics nomirror\n'
         'set y2range [0:110]\n'
         'plot "%s" u 1:2 w lp lw 2 t "gateway ms/call-s, with its core\'s IRQ", '
         '"" u 1:15 w lp t "gateway ms/call-s, its threads only", '
         '"" u 1:4 axes x1y2 w lp dt 3 t "gateway core busy %%", '
         '"" u 1:3 axes x1y2 w lp dt 2 t "load generators CPU %%"\n'),
        ("latency.png",
         'set title "One-way latency: %s"\nset ylabel "ms"\n'
         'set logscale y\n'
         'plot "%s" u 1:7 w lp t "up p50", "" u 1:8 w lp lw 2 t "up p99", '
         '"" u 1:9 w lp t "up p99.9", "" u 1:10 w lp t "down p50", '
         '"" u 1:11 w lp lw 2 t "down p99", "" u 1:12 w lp t "down p99.9", '
         '"" u 1:13 w lp dt 2 t "down p99 above per-call floor"\n'),
        ("memory.png",
         'set title "Gateway memory: %s"\nset ylabel "RSS [MiB]"\n'
         'set y2label "KiB per call"\nset y2tics\nset ytics nomirror\n'
         'plot "%s" u 1:5 w lp lw 2 t "RSS", '
         '"" u 1:6 axes x1y2 w lp t "(RSS - idle RSS) / calls"\n'),
    ]
    for name, body in specs:
        png = os.path.join(outdir, name)
        script = common + 'set output "%s"\n' % png + body % (title, dat)
        res = subprocess.run([gp], input=script.encode(),
                             stderr=subprocess.PIPE)
        if res.returncode:
            log("gnuplot failed for %s: %s" % (name, res.stderr.decode()))
        else:
            out.append(png)
    return out


def env_info(a):
    info = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "host_cpus": os.cpu_count(), "kernel": os.uname().release}
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    info["cpu"] = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        info["commit"] = subprocess.run(
            ["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return info


# ---------------------------------------------------------------------------
# modes

rig_period_s = 0.5


def calls_up(a, rig, n):
    """Go to n calls; the set-up figures of the calls that were added."""
    rig.gen.cmd("reset")
    t0 = now_us()
    rig.gen.cmd("target %d" % n)
    st = wait_calls(rig, n, timeout=30 + n / a.cps * 2)
    c = st["calls"]
    setup = {"answered": c["answered"], "failed": c["failed"],
             "codes": c["codes"], "setup_ms": st["setup"]}
    rate = None
    if c["answered"] and c["last_answer_us"] > t0:
        rate = c["answered"] / ((c["last_answer_us"] - t0) / 1e6)
    return setup, rate


def step_up(a, rig, n, idle_rss, idle_fds):
    """Go to n calls, let it settle, measure.

    A step counts only if nothing else on the machine disturbed it, from
    the set-up of its calls to the end of the hold: a stall leaves traces
    in the calls (a jitter buffer that grew, agent audio queued behind the
    stall) that later clean windows would still show. So when other
    processes used more than --max-foreign of a core during the set-up or
    during any window, the step is done again with fresh calls, up to
    --retries times, and marked invalid if it never ran clean.
    """
    perf = os.path.join(rig.out, "perf-%d" % n) \
        if a.perf and (a.perf_calls in (0, n)) else None
    for attempt in range(1 + a.retries):
        if attempt:
            rig.gen.cmd("hangup")
            wait_idle(rig)
            time.sleep(2)
        s0 = Sample(rig.pids())
        setup, rate = calls_up(a, rig, n)
        time.sleep(a.settle)
        sw = Window(s0, Sample(rig.pids()))
        last = attempt == a.retries
        r = measure(rig, n, a.hold, perf=perf, stop_on_spoil=not last)
        if r is not None:
            # recorded, not judged: the gateway's own SIP thread competes
            # with its media worker while calls are set up
            r["setup_wait_pct"] = round(sw.wait_pct(), 2)
            r["setup_foreign_pct"] = round(sw.foreign_pct(), 1)
            r["clean"] = not r["windows_dropped"]
            if r["clean"] or last:
                break
        log("step %d: disturbed (other processes used more than %.0f%% "
            "of a core), again with fresh calls" % (n, a.max_foreign))
    r["attempts"] = attempt + 1
    r["setup"] = setup
    r["setup_rate"] = rate
    r["setup_failed"] = setup["failed"]
    if "gateway" in r and r["live"]:
        r["kib_per_call"] = round((r["gateway"]["rss"] - idle_rss) /
                                  1024.0 / r["live"], 1)
        r["fds_per_call"] = round((r["gateway"]["fds"] - idle_fds) /
                                  r["live"], 2)
    return r


def idle_sample(rig):
    time.sleep(1)
    s = Sample(rig.pids())
    return s.rss.get("gateway", 0), s.fds.get("gateway", 0)


def mode_ramp(a, rig, res):
    steps = [int(x) for x in a.steps.split(",") if x.strip()]
    idle_rss, idle_fds = idle_sample(rig)
    res["idle"] = {"rss": idle_rss, "fds": idle_fds}
    rows = res["steps"] = []
    log(table([]))
    base = None
    for n in steps:
        r = step_up(a, rig, n, idle_rss, idle_fds)
        r["invalid"] = validity(a, r)
        if base is None and not r["invalid"]:
            base = r
        r["knee"] = knee(a, r, base)
        rows.append(r)
        print(table([r]).splitlines()[-1], flush=True)
        if r["invalid"]:
            log("step %d is not valid: %s" % (n, r["invalid"]))
        if r["knee"]:
            log("knee at %d calls: %s" % (n, r["knee"]))
        if (r["knee"] or r["invalid"]) and not a.keep_going:
            break
    good = [r for r in rows if not r["invalid"] and not r["knee"]]
    res["capacity"] = good[-1]["calls"] if good else 0
    knee_rows = [r for r in rows if r["knee"] and not r["invalid"]]
    res["knee"] = knee_rows[0]["calls"] if knee_rows else None
    res["harness_limited"] = any(r["invalid"] for r in rows)
    rig.gen.cmd("hangup")
    wait_idle(rig)
    return rows


def mode_overload(a, rig, res):
    m = a.max_calls
    idle_rss, idle_fds = idle_sample(rig)
    res["idle"] = {"rss": idle_rss, "fds": idle_fds}
    # 1: the limit itself, nothing refused
    base = step_up(a, rig, m, idle_rss, idle_fds)
    base["knee"] = knee(a, base)
    base["invalid"] = validity(a, base)
    print(table([base]).splitlines()[-1], flush=True)
    # 2: 150 %: the excess is refused; refused slots retry after
    #    Retry-After, so the gateway stays under pressure while we measure
    over = int(m * 1.5)
    rig.gen.cmd("reset")
    rig.gen.cmd("target %d" % over)
    deadline = time.monotonic() + 30 + over / a.cps * 2
    while time.monotonic() < deadline:
        c = rig.gen.cmd("stats")["calls"]
        if c["live"] + c["waiting"] + c["dead"] >= over and \
                c["inviting"] == 0:
            break
        time.sleep(0.25)
    time.sleep(a.settle)
    adm = measure(rig, m, a.hold)
    adm["knee"] = knee(a, adm, base)   # quality as without the excess
    adm["invalid"] = validity(a, adm)
    g = adm["raw"]["loadgen"]["calls"]
    refused = g["codes"].get("503", 0)
    checks = {
        "admitted_le_max": g["live"] <= m,
        "admitted_eq_max": g["live"] == m,
        "refused_503": refused > 0,
        "all_503_have_retry_after": g["retry_after"] == refused,
        "only_503": g["failed"] == refused,
        "admitted_quality": adm["knee"] is None,
        "no_calls_dropped": g["peer_bye"] == 0,
    }
    res["overload"] = {"max_calls": m, "offered": over, "baseline": base,
                       "under_overload": adm, "refused_503": refused,
                       "retry_after": g["retry_after"],
                       "attempts_in_hold": g["attempted"], "checks": checks,
                       "pass": all(checks.values())}
    print(table([base, adm]))
    for k, v in checks.items():
        print("  %-26s %s" % (k, "ok" if v else "FAILED"))
    rig.gen.cmd("hangup")
    wait_idle(rig)
    return [base, adm]


def mode_soak(a, rig, res):
    """The same load, --soak-runs times (2 by default): the gateway's RSS
    and open fds after each run, once every call has ended. The last run
    must not grow either over the one before it (the first run may: the
    allocator's pools and lws's buffers warm up)."""
    n = a.soak_calls
    idle_rss, idle_fds = idle_sample(rig)
    res["idle"] = {"rss": idle_rss, "fds": idle_fds}
    runs = []
    for i in range(1, a.soak_runs + 1):
        r = step_up(a, rig, n, idle_rss, idle_fds)
        r["knee"] = knee(a, r, runs[0] if runs else None)
        r["invalid"] = validity(a, r)
        rig.gen.cmd("hangup")
        wait_idle(rig)
        time.sleep(a.drain)
        s = Sample(rig.pids())
        r["after"] = {"rss": s.rss.get("gateway", 0),
                      "fds": s.fds.get("gateway", 0)}
        runs.append(r)
        log("soak run %d: RSS after %.2f MiB, fds after %d" %
            (i, r["after"]["rss"] / 2**20, r["after"]["fds"]))
    prev, last = runs[-2]["after"], runs[-1]["after"]
    grow = last["rss"] - prev["rss"]
    tol = max(a.soak_rss_tol_kib * 1024, 0.01 * prev["rss"])
    checks = {
        "rss_no_growth": grow <= tol,
        "fds_no_growth": last["fds"] <= prev["fds"],
        "fds_back_to_idle": last["fds"] <= idle_fds,
    }
    for i, r in enumerate(runs):
        checks["quality_run%d" % (i + 1)] = r["knee"] is None
    res["soak"] = {"calls": n, "hold_s": a.hold, "runs": runs,
                   "rss_after": [r["after"]["rss"] for r in runs],
                   "fds_after": [r["after"]["fds"] for r in runs],
                   "rss_growth_last": grow, "rss_tolerance": tol,
                   "checks": checks, "pass": all(checks.values())}
    print(table(runs))
    print("  RSS after each run: %s MiB; last run %+d KiB (tolerance %d "
          "KiB)" % (", ".join("%.2f" % (r["after"]["rss"] / 2**20)
                              for r in runs), grow // 1024, tol // 1024))
    for k, v in checks.items():
        print("  %-26s %s" % (k, "ok" if v else "FAILED"))
    return runs


def fmt_ok(a, ag):
    f = ag["formats"]
    if a.agent_proto == "raw":
        return f["raw"] == a.smoke_calls
    key = "l16" if a.agent_format == "l16" else "mulaw"
    return f[key] == a.smoke_calls


def mode_smoke(a, rig, res):
    idle_rss, idle_fds = idle_sample(rig)
    r = step_up(a, rig, a.smoke_calls, idle_rss, idle_fds)
    g, ag = r["raw"]["loadgen"], r["raw"]["agentsim"]
    n = a.smoke_calls
    checks = [
        ("all calls answered", r["setup"]["answered"] == n,
         "%d of %d" % (r["setup"]["answered"], n)),
        ("no call failed", r["setup"]["failed"] == 0,
         str(r["setup"]["codes"])),
        ("calls stayed up", g["calls"]["live"] == n,
         "%d live" % g["calls"]["live"]),
        ("agent got a start per call", ag["open"] == n,
         "%d WebSockets open" % ag["open"]),
        ("generator sent RTP", g["tx"]["pkts"] > 0, str(g["tx"]["pkts"])),
        ("agent received media", ag["media_rx"] > 0, str(ag["media_rx"])),
        ("agent sent media", ag["media_tx"] > 0, str(ag["media_tx"])),
        ("generator received RTP", g["rx"]["pkts"] > 0, str(g["rx"]["pkts"])),
        ("up latency measured", r["lat"]["up"].get("n", 0) > 0,
         str(r["lat"]["up"].get("n", 0))),
        ("no loss up", r["up_loss_pct"] == 0, "%.4f%%" % r["up_loss_pct"]),
        ("no loss down", r["down_loss_pct"] == 0,
         "%.4f%%" % r["down_loss_pct"]),
        ("no crosstalk", r["crosstalk"] == 0, str(r["crosstalk"])),
        ("no corrupt stamps", r["corrupt"] == 0, str(r["corrupt"])),
        ("agent format as configured", fmt_ok(a, ag), str(ag["formats"])),
    ]
    dirs = ("up", "down") if a.agent_mode == "echo" else ("up",)
    checks.append(("latency sane (0 <= p50 < 1 s)",
                   all(0 <= (r["lat"][d].get("p50", -1)) < 1e6
                       for d in dirs),
                   " ".join("%s %s" % (d, r["lat"][d].get("p50"))
                            for d in dirs)))
    if a.agent_mode == "echo":
        checks.append(("down latency measured",
                       r["lat"]["down"].get("n", 0) > 0,
                       str(r["lat"]["down"].get("n", 0))))
    else:
        checks.append(("marks echoed", ag["marks_echoed"] > 0 and
                       ag["marks_lost"] == 0 and
                       ag["unexpected_marks"] == 0,
                       "%d sent, %d echoed, %d lost" %
                       (ag["marks_sent"], ag["marks_echoed"],
                        ag["marks_lost"])))
    if g["stamp"] == "bytes":
        checks.append(("stamps through up", ag["stamped"] > 0,
                       str(ag["stamped"])))
        if a.agent_mode == "echo":
            checks.append(("stamps through down",
                           g["media"]["stamped"] > 0,
                           str(g["media"]["stamped"])))
    # each call lasted the hold: about 50 frames/s each way per call
    exp = n * 50 * r["hold_s"]
    checks.append(("agent got ~50 frames/s per call",
                   0.9 * exp <= ag["media_rx"] <= 1.1 * exp,
                   "%d for %.0f expected" % (ag["media_rx"], exp)))
    rig.gen.cmd("hangup")
    idle = wait_idle(rig)
    time.sleep(1)
    checks.append(("all calls ended", idle, ""))
    st = rig.agent.cmd("stats")
    checks.append(("agent saw every WebSocket close", st["open"] == 0,
                   "%d open" % st["open"]))
    res["steps"] = [r]
    res["checks"] = {name: {"ok": ok, "detail": det}
                     for name, ok, det in checks}
    res["pass"] = all(ok for _, ok, _ in checks)
    for name, ok, det in checks:
        print("  %-36s %-6s %s" % (name, "ok" if ok else "FAILED", det))
    return [r]


# ---------------------------------------------------------------------------

def find_bin(name, explicit):
    if explicit:
        return explicit
    for d in ("build-bench/bench", "build/bench", "build-bench/gateway",
              "build/gateway"):
        p = os.path.join(HERE, "..", d, name)
        if os.access(p, os.X_OK):
            return os.path.normpath(p)
    p = shutil.which(name)
    if p:
        return p
    raise HarnessError("cannot find %s; pass its path" % name)


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See bench/README.md for the method and examples.")
    ap.add_argument("mode", choices=("ramp", "overload", "soak", "smoke"))
    b = ap.add_argument_group("binaries and files")
    b.add_argument("--gateway", help="callbridge binary")
    b.add_argument("--loadgen", help="cb-loadgen binary")
    b.add_argument("--agentsim", help="cb-agentsim binary")
    b.add_argument("--audio", help="speech-like WAV (made with "
                   "speechgen.py if missing)")
    b.add_argument("--out", default="bench-out", help="output directory")
    m = ap.add_argument_group("media")
    m.add_argument("--codec", default="pcmu", choices=("pcmu", "pcma",
                                                       "opus"))
    m.add_argument("--stamp", default="auto",
                   choices=("auto", "bytes", "onset"))
    m.add_argument("--period-ms", type=int, default=500,
                   help="onset marker period [ms]")
    m.add_argument("--agent-proto", default="twilio",
                   choices=("twilio", "raw"))
    m.add_argument("--agent-format", default="mulaw",
                   choices=("mulaw", "l16"))
    m.add_argument("--agent-rate", type=int, default=8000,
                   choices=(8000, 16000, 24000, 48000))
    m.add_argument("--agent-mode", default="echo", choices=("echo", "play"))
    m.add_argument("--agent-tls", action="store_true",
                   help="agents over TLS (wss://): cb-agentsim serves a "
                   "self-signed certificate made with openssl into --out, "
                   "which the gateway trusts as its agent_tls_ca")
    m.add_argument("--numbers", type=int, default=100,
                   help="numbers the calls go to, round robin")
    m.add_argument("--number", default="+15550100000",
                   help="first number")
    m.add_argument("--sip-tcp", action="store_true", help="SIP over TCP")
    s = ap.add_argument_group("steps")
    s.add_argument("--steps", default=DEFAULT_STEPS)
    s.add_argument("--hold", type=float, default=30.0,
                   help="measured time per step [s]")
    s.add_argument("--settle", type=float, default=3.0,
                   help="wait after the calls are up [s]")
    s.add_argument("--cps", type=float, default=200.0,
                   help="call set-up rate [calls/s]")
    s.add_argument("--keep-going", action="store_true",
                   help="do not stop at the knee or an invalid step")
    k = ap.add_argument_group("bounds")
    k.add_argument("--max-loss", type=float, default=0.1,
                   help="knee: loss in either direction [%%]")
    k.add_argument("--max-p99-ms", type=float, default=10.0,
                   help="knee: p99 latency above the first step's, in "
                   "either direction [ms]")
    k.add_argument("--load-cpu-limit", type=float, default=90.0,
                   help="invalid step: load processes' CPU [%% of a core]")
    k.add_argument("--gen-late-ms", type=float, default=2.0,
                   help="invalid step: generator send lateness p99 [ms]")
    k.add_argument("--max-foreign", type=float, default=5.0,
                   help="disturbed: other processes on the machine used "
                   "this much CPU [%% of a core]")
    k.add_argument("--retries", type=int, default=4,
                   help="set a step up again with fresh calls when other "
                   "processes spoiled all of it, up to this many times")
    k.add_argument("--window", type=float, default=5.0,
                   help="measurement window [s]: windows spoiled by other "
                   "processes are dropped")
    k.add_argument("--max-wall", type=float, default=4.0,
                   help="give a step at most this many times --hold to "
                   "collect --hold s of clean windows")
    g = ap.add_argument_group("gateway")
    g.add_argument("--workers", type=int, default=1)
    g.add_argument("--max-calls", type=int, default=0,
                   help="gateway max_calls (default: above the largest "
                   "step; overload: 100)")
    g.add_argument("--log-level", default="info")
    g.add_argument("--gw-set", action="append", default=[],
                   metavar="KEY=VALUE", help="extra gateway setting")
    g.add_argument("--cpu-gw", type=parse_cpus, default={0},
                   metavar="N[,M...]", help="core(s) for the gateway")
    g.add_argument("--cpu-load", type=parse_cpus, default={1},
                   metavar="N[,M...]",
                   help="core(s) for the generator and agent simulator")
    g.add_argument("--gw-cpu-quota", type=float, default=0.0,
                   metavar="FRACTION",
                   help="give each media worker thread at most this "
                   "fraction of a core (its own cgroup's CFS quota, e.g. "
                   "0.25; cgroup v1, root): --workers 1 against "
                   "--workers 2 then measures scaling on a machine "
                   "without a free core per worker")
    g.add_argument("--gw-cpu-period-ms", type=float, default=10.0,
                   metavar="MS", help="the quota's period [ms]")
    g.add_argument("--no-pin", action="store_true")
    g.add_argument("--rt", type=int, default=10, metavar="PRIO",
                   help="run the agent simulator SCHED_FIFO at this "
                   "priority and the generator 10 above it, so that "
                   "nothing else on their core delays a send or a "
                   "receive time stamp, and a burst of agent work never "
                   "delays the generator's pacing (0: normal priority; "
                   "needs root or CAP_SYS_NICE)")
    g.add_argument("--gw-nice", type=int, default=0, metavar="N",
                   help="run the gateway at this nice value (e.g. -20): "
                   "on a machine shared with other work this gives it its "
                   "core almost as a dedicated machine would, while its "
                   "own threads still share fairly (see README)")
    g.add_argument("--perf", action="store_true",
                   help="profile the gateway with perf during a step")
    g.add_argument("--perf-calls", type=int, default=0,
                   help="profile only the step with this many calls")
    g.add_argument("--strace", action="store_true",
                   help="count the gateway's syscalls during each step "
                   "(strace -c; slows the gateway)")
    g.add_argument("--gw-wrap", metavar="CMD",
                   help="run the gateway under CMD, e.g. 'valgrind "
                   "--tool=callgrind' or 'strace -c -f'")
    x = ap.add_argument_group("another gateway (--external)")
    x.add_argument("--external", action="store_true",
                   help="do not start callbridge: drive the gateway at "
                   "--target, whose numbers route to --agent-listen")
    x.add_argument("--target", help="its SIP address HOST:PORT")
    x.add_argument("--agent-listen", default="127.0.0.1:8090",
                   help="where cb-agentsim listens (ADDR:PORT)")
    x.add_argument("--gateway-pid", type=int,
                   help="its process id, for CPU/RSS/fd figures")
    o = ap.add_argument_group("overload, soak, smoke")
    o.add_argument("--soak-calls", type=int, default=100)
    o.add_argument("--soak-runs", type=int, default=2,
                   help="soak: identical runs; the last must not grow")
    o.add_argument("--soak-rss-tol-kib", type=int, default=1024)
    o.add_argument("--drain", type=float, default=3.0,
                   help="soak: wait after hang-up before sampling [s]")
    o.add_argument("--smoke-calls", type=int, default=5)
    o.add_argument("--loadgen-arg", action="append", default=[])
    o.add_argument("--agentsim-arg", action="append", default=[])
    a = ap.parse_args(argv)

    if a.external and not a.target:
        ap.error("--external needs --target")
    if a.stamp == "auto":
        # bytes survive only µ-law end to end (an l16/8000 agent's samples
        # go back to the same µ-law bytes); resampled audio needs markers
        bytes_ok = a.codec == "pcmu" and (a.agent_format == "mulaw" or
                                          a.agent_rate == 8000)
        a.stamp = "bytes" if bytes_ok else "onset"
    elif a.stamp == "bytes" and a.codec != "pcmu":
        ap.error("--stamp bytes needs --codec pcmu")
    if a.mode == "smoke":
        a.steps = str(a.smoke_calls)
        a.hold = min(a.hold, 3.0) if "--hold" not in argv else a.hold
        a.settle = 1.0 if "--settle" not in argv else a.settle
        # the smoke run checks the harness, on busy CI machines too: no
        # pinning, and a jitter buffer floor that absorbs scheduling
        # delays of a loaded machine (loss must then be zero)
        if "--cpu-gw" not in argv and "--cpu-load" not in argv:
            a.no_pin = True
        if not any(kv.startswith("jb_min_ms") for kv in a.gw_set):
            a.gw_set.append("jb_min_ms=40")
        if "--rt" not in argv:
            a.rt = 0
        if "--max-foreign" not in argv:
            a.max_foreign = 1e9   # no figure is judged: keep every window
    if a.mode == "soak":
        if "--hold" not in argv:
            a.hold = 120.0
        a.retries = 0   # the two runs must be the same
    if not a.max_calls:
        if a.mode == "overload":
            a.max_calls = 100
        else:
            a.max_calls = max([int(x) for x in a.steps.split(",")] +
                              [a.soak_calls]) + 100
    if a.hold <= 0 or a.cps <= 0 or a.numbers < 1:
        ap.error("--hold, --cps and --numbers must be positive")
    if a.soak_runs < 2:
        ap.error("--soak-runs must be 2 or more")
    return a


def on_sigterm(signum, frame):
    raise HarnessError("terminated by signal %d" % signum)


def main(argv):
    global rig_period_s
    a = parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    os.makedirs(a.out, exist_ok=True)
    rig_period_s = a.period_ms / 1000.0
    if not a.external:
        a.gateway = find_bin("callbridge", a.gateway)
    a.loadgen = find_bin("cb-loadgen", a.loadgen)
    a.agentsim = find_bin("cb-agentsim", a.agentsim)
    if not a.audio:
        a.audio = os.path.join(a.out, "speech.wav")
    if not os.path.exists(a.audio):
        subprocess.run([sys.executable, os.path.join(HERE, "speechgen.py"),
                        a.audio], check=True)

    res = {"mode": a.mode, "agent_tls": bool(a.agent_tls),
           "env": env_info(a),
           "args": {k: v for k, v in vars(a).items()}}
    rig = Rig(a, a.out)
    ok = True
    rows = []
    try:
        rig.start(a.max_calls)
        res["pinned"] = rig.pinned
        res["rt"] = {n: os.sched_getscheduler(pid) == os.SCHED_FIFO
                     for n, pid in rig.pids().items() if pid}
        if rig.gw_pid:
            res["gateway_nice"] = os.getpriority(os.PRIO_PROCESS,
                                                 rig.gw_pid)
        log("gateway %s, SIP %s, agent %s://%s:%d/, %s, %s agent, pinned %s"
            % ("external" if a.external else "pid %d" % rig.gw_pid,
               rig.target, rig.scheme, rig.agent_host, rig.agent_port,
               a.codec, a.agent_mode, rig.pinned))
        if rig.tls_cert:
            log("agent TLS: cb-agentsim serves %s; gateway agent_tls_ca %s"
                % (rig.tls_cert, "(external: its own)" if a.external
                   else rig.conf.get("agent_tls_ca", "(system store)")))
        if a.mode == "ramp":
            rows = mode_ramp(a, rig, res)
            print("capacity (last step within bounds): %s calls%s" %
                  (res["capacity"], "; harness-limited beyond"
                   if res["harness_limited"] else ""))
        elif a.mode == "overload":
            rows = mode_overload(a, rig, res)
            ok = res["overload"]["pass"]
        elif a.mode == "soak":
            rows = mode_soak(a, rig, res)
            ok = res["soak"]["pass"]
        else:
            rows = mode_smoke(a, rig, res)
            ok = res["pass"]
    except HarnessError as e:
        log("cbbench: %s" % e)
        res["error"] = str(e)
        ok = False
    finally:
        res["exit_codes"] = rig.stop()
        if a.mode == "smoke":
            # a clean exit: no leak or sanitizer report in any process
            for name, code in res["exit_codes"].items():
                if code not in (0, None):
                    log("cbbench: %s exited with %s; see its log in %s" %
                        (name, code, a.out))
                    ok = False
        with open(os.path.join(a.out, "results.json"), "w") as f:
            json.dump(res, f, indent=1, default=str)
        if rows:
            with open(os.path.join(a.out, "table.txt"), "w") as f:
                f.write(table(rows) + "\n")
            if a.mode in ("ramp",):
                title = "%s, %s agent, %d worker(s)" % (
                    a.codec.upper(), a.agent_format, a.workers)
                for p in plots(a.out, rows, title):
                    log("plot: %s" % p)
    log("results: %s" % os.path.join(a.out, "results.json"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
