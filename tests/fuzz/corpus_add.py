#!/usr/bin/env python3
"""Add to a target's tree corpus the few inputs of a fuzzing run that
reach the most code the corpus does not reach yet.

    tests/fuzz/corpus_add.py [--build build-fuzz] [--max-files 60]
        [--max-new 25] [--min-gain 3] TARGET SCRATCH_DIR...

libFuzzer's -merge=1 (in a CB_FUZZ=ON build) runs the tree corpus and
the scratch corpora and writes, per input, the coverage features it
reaches (-merge_control_file). From the scratch inputs of 4 KB or less
this picks greedily the one that adds the most features to what the tree
corpus (and the inputs picked so far) reach, the smaller on a tie, until
an input would add fewer than --min-gain features, --max-new inputs are
picked, or the corpus holds --max-files files. They are copied to
tests/fuzz/corpus/TARGET/ as fuzz-<sha1 prefix>. Prints what it did.
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_SIZE = 4096


def control(binary, tree, scratch, work):
    """Features per input: {path: set}, and the tree's files in order"""
    base = os.path.join(work, "base")
    shutil.copytree(tree, base)
    cf = os.path.join(work, "control")
    out = subprocess.run(
        ["nice", "-n", "19", binary, "-merge=1", "-max_len=%d" % MAX_SIZE,
         "-merge_control_file=" + cf, base] + scratch,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    if out.returncode != 0:
        sys.stderr.write(out.stdout.decode(errors="replace")[-2000:])
        raise SystemExit("merge failed")
    with open(cf) as f:
        lines = f.read().splitlines()
    n, n_first = int(lines[0]), int(lines[1])
    files = lines[2:2 + n]
    feats = {}
    for ln in lines[2 + n:]:
        if ln.startswith("FT "):
            parts = ln.split()
            feats[files[int(parts[1])]] = set(map(int, parts[2:]))
    return files[:n_first], files[n_first:], feats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "..",
                                                    "build-fuzz"))
    ap.add_argument("--max-files", type=int, default=60)
    ap.add_argument("--max-new", type=int, default=25)
    ap.add_argument("--min-gain", type=int, default=3)
    ap.add_argument("target")
    ap.add_argument("scratch", nargs="+")
    a = ap.parse_args()

    tree = os.path.join(HERE, "corpus", a.target)
    binary = os.path.join(a.build, "tests", "fuzz", "fuzz_" + a.target)
    with tempfile.TemporaryDirectory(prefix="cbfuzz-add-") as work:
        first, rest, feats = control(binary, tree, a.scratch, work)
        have = set()
        for f in first:
            have |= feats.get(f, set())
        base_n = len(have)
        cands = [f for f in rest if os.path.getsize(f) <= MAX_SIZE]
        room = min(a.max_new, a.max_files - len(os.listdir(tree)))
        picked = []
        while len(picked) < room and cands:
            best = max(cands, key=lambda f: (len(feats.get(f, set()) - have),
                                             -os.path.getsize(f)))
            gain = len(feats.get(best, set()) - have)
            if gain < a.min_gain:
                break
            picked.append((best, gain))
            have |= feats.get(best, set())
            cands.remove(best)

        for f, gain in picked:
            with open(f, "rb") as fh:
                data = fh.read()
            name = "fuzz-" + hashlib.sha1(data).hexdigest()[:12]
            with open(os.path.join(tree, name), "wb") as fh:
                fh.write(data)
            print("%s: %s, %d bytes, +%d features" % (a.target, name,
                                                      len(data), gain))
        print("%s: %d inputs added; features %d -> %d (scratch alone: %d "
              "inputs)" % (a.target, len(picked), base_n, len(have),
                           len(rest)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
