#!/bin/sh
# Fuzz each target in turn, one process at a time, at the lowest priority.
#
#   tests/fuzz/run.sh [-t SECONDS] [-b BUILD_DIR] [-w WORK_DIR] [TARGET...]
#
# BUILD_DIR is a CB_FUZZ=ON build (default build-fuzz); WORK_DIR, outside
# the tree (default /tmp/cbfuzz), gets per target a scratch corpus seeded
# from tests/fuzz/corpus/<target> (corpus/), crashes (artifacts/), the
# fuzzer's log (logs/), and one line of final figures in stats.txt:
#   target  exit  seconds  execs  exec/s  cov  ft  corpus  crashes
# The binaries are copied to WORK_DIR/bin first, so that a rebuild during
# the run does not pull them from under it. Default: every target, 600 s.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
SECS=600
BUILD="$SRC/build-fuzz"
WORK=/tmp/cbfuzz
ALL="jb rtcp sdp agent_raw dtmf twilio wsframe rtp ctl state settings"

while getopts t:b:w: o; do
	case $o in
	t) SECS=$OPTARG ;;
	b) BUILD=$OPTARG ;;
	w) WORK=$OPTARG ;;
	*) sed -n '2,13p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
TARGETS=${*:-$ALL}

mkdir -p "$WORK/bin" "$WORK/logs" || exit 1
for t in $TARGETS; do
	cp "$BUILD/tests/fuzz/fuzz_$t" "$WORK/bin/" || exit 1
done

for t in $TARGETS; do
	corpus="$WORK/corpus/$t"
	art="$WORK/artifacts/$t"
	log="$WORK/logs/$t.log"
	mkdir -p "$corpus" "$art"
	cp -n "$HERE/corpus/$t"/* "$corpus/" 2>/dev/null

	start=$(date +%s)
	nice -n 19 "$WORK/bin/fuzz_$t" -max_total_time="$SECS" \
		-max_len=4096 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$art/" \
		"$corpus" > "$log" 2>&1
	rc=$?
	end=$(date +%s)

	# the last status line, and the final statistics
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.* corp: \([^ ]*\).*/\1/p')
	crashes=$(ls "$art" | wc -l)
	printf '%-10s exit=%s secs=%s execs=%s exec/s=%s cov=%s ft=%s corp=%s crashes=%s at=%s\n' \
		"$t" "$rc" $((end - start)) "${execs:-?}" "${eps:-?}" \
		"${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes" \
		"$(date -u +%H:%M:%S)" >> "$WORK/stats.txt"
done
