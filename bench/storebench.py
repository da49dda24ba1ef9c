#!/usr/bin/env python3
"""Measure (not a test): what one accepted change to the store costs.

  CB_BIN_DIR=build/gateway python3 bench/storebench.py [--sizes 100,1000,10000]

Starts callbridge on private files (tests/integ/cbtest.Daemon), fills the
store with numbers through the control socket up to each size, then times
50 `numbers.put` replacements on one connection: each reply comes only
after the whole state file is on disk (temporary file, fsync, rename,
fsync of the directory), so this is the operator's round trip.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "integ"))
import cbtest  # noqa: E402


def number(k, name):
    return {"number": "+1415%07d" % k, "friendly_name": name,
            "trunk_id": "t1", "inbound_agent_id": "a1"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--samples", type=int, default=50)
    a = ap.parse_args()
    g = cbtest.Daemon(log_level="warn")
    g.start()
    try:
        c = g.client(30)
        c.request("trunks.put", trunk={"id": "t1", "name": "T",
                                       "kind": "byoc"})
        c.request("agents.put", agent={"id": "a1", "name": "A",
                                       "url": "ws://127.0.0.1:9/"})
        n = 0
        for size in (int(s) for s in a.sizes.split(",")):
            for k in range(n, size):
                r = c.request("numbers.put", number=number(k, "n"))
                if not r["ok"]:
                    raise SystemExit("refused: %r" % r)
            n = max(n, size)
            ts = []
            for k in range(a.samples):
                t0 = time.monotonic()
                r = c.request("numbers.put", number=number(k, "m%d" % k))
                ts.append(time.monotonic() - t0)
                if not r["ok"]:
                    raise SystemExit("refused: %r" % r)
            ts.sort()
            print("%6d numbers: numbers.put median %.2f ms, p95 %.2f ms; "
                  "state file %d KiB"
                  % (size, statistics.median(ts) * 1e3,
                     ts[int(len(ts) * 0.95) - 1] * 1e3,
                     os.path.getsize(g.state) // 1024))
    finally:
        g.stop()


if __name__ == "__main__":
    main()
