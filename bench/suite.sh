#!/bin/sh
# bench/suite.sh OUT [BUILD]: every measurement bench/README.md reports,
# one after the other (about 1.5 hours on 2 cores). BUILD is the build
# directory (default: build-bench). Each run writes OUT/<name>/ with its
# results.json, table.txt, plots and logs; the micro-benchmarks go to
# OUT/microbench.{txt,json}.
#
# Set HOLD (seconds per step, default 30), STEPS, OPUS_STEPS and
# SOAK_HOLD (default 300) to shorten it, and ONLY to a space-separated list
# of run names (microbench ramp-pcmu ramp-pcma ramp-opus ramp-l16
# ramp-play setup-rate overload soak perf-pcmu perf-opus
# callgrind-pcmu callgrind-opus strace-pcmu scale-w1 scale-w2) to run just
# those, e.g.
#   HOLD=10 STEPS=25,100,400 ONLY="ramp-pcmu soak" bench/suite.sh /tmp/suite
set -eu

out=${1:?usage: bench/suite.sh OUT [BUILD]}
top=$(cd "$(dirname "$0")/.." && pwd)
build=${2:-$top/build-bench}
hold=${HOLD:-30}
steps=${STEPS:-25,50,100,200,300,400,500,600,800,1000}
drv="python3 $top/bench/cbbench.py"
mkdir -p "$out"
audio="$out/speech.wav"
[ -f "$audio" ] || python3 "$top/bench/speechgen.py" "$audio"

# GW_NICE: on a machine shared with other work, give the gateway its core
# almost as a dedicated machine would (see README); 0 to turn off
common="--gateway $build/gateway/callbridge --loadgen $build/bench/cb-loadgen
        --agentsim $build/bench/cb-agentsim --audio $audio --hold $hold
        --gw-nice ${GW_NICE:--20}"

want() { # want NAME: is NAME among ONLY (or ONLY unset)?
	case " ${ONLY:-$1} " in *" $1 "*) return 0 ;; esac
	return 1
}

run() { # run NAME MODE ARGS...  (ARGS win over the common ones)
	name=$1; mode=$2; shift 2
	want "$name" || return 0
	echo "== $name: $mode $*"
	# a run that finds a failure (soak, overload) still leaves its results
	$drv "$mode" $common "$@" --out "$out/$name" || echo "== $name: exit $?"
}

# micro-benchmarks first, on the load core, while nothing else runs
if want microbench; then
	taskset -c 1 "$build/bench/cb-microbench" | tee "$out/microbench.txt"
	taskset -c 1 "$build/bench/cb-microbench" --json \
		> "$out/microbench.json"
fi

# the ramps go on past the knee (--keep-going) to show the whole curve
run ramp-pcmu ramp --steps "$steps" --keep-going
run ramp-pcma ramp --steps "$steps" --keep-going --codec pcma
run ramp-opus ramp --steps "${OPUS_STEPS:-25,50,100,150,200,300}" \
	--keep-going --codec opus
run ramp-l16 ramp --steps "$steps" --keep-going --agent-format l16 \
	--agent-rate 16000
run ramp-play ramp --steps "$steps" --keep-going --agent-mode play
run setup-rate ramp --steps 400 --cps 1000 --hold 10
run overload overload --max-calls 200
run soak soak --soak-calls 200 --hold "${SOAK_HOLD:-300}" --soak-runs 3
# worker scaling on a machine without a free core per worker: each media
# worker gets a quarter of a core (its own cgroup's CFS quota), everything
# shares the cores; where one worker runs out against where two do
run scale-w1 ramp --steps 50,75,100,125,150,175,200 --workers 1 \
	--gw-cpu-quota 0.25 --cpu-gw 0,1 --cpu-load 0,1 --keep-going --gw-nice 0
run scale-w2 ramp --steps 100,150,200,250,300,350,400 --workers 2 \
	--gw-cpu-quota 0.25 --cpu-gw 0,1 --cpu-load 0,1 --keep-going --gw-nice 0

# profiles: perf at about half a core, callgrind at 20 calls
run perf-pcmu ramp --steps 400 --perf
run perf-opus ramp --steps 100 --codec opus --perf
run callgrind-pcmu ramp --steps 20 --hold 20 --max-foreign 1000 \
	--gw-wrap "valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$out/callgrind-pcmu/callgrind.out"
run callgrind-opus ramp --steps 10 --hold 20 --codec opus --max-foreign 1000 \
	--gw-wrap "valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$out/callgrind-opus/callgrind.out"
run strace-pcmu ramp --steps 100 --hold 20 --max-foreign 1000 --strace
echo "== done: $out"
