#!/bin/sh
# callbridge set-up: install what is missing, build, then run or test.
#
#   scripts/setup.sh run     install, build, run the demo (echo agent + gateway)
#   scripts/setup.sh test    install, build, run the whole suite (plain build,
#                            then the same suite under ASan and UBSan)
#   scripts/setup.sh build   install and build only (build/)
#   scripts/setup.sh deps    install the Debian packages that are missing
#
# Environment: JOBS (parallel build jobs, default: number of cores),
#              CB_SKIP_SANITIZE=1 (test: skip the sanitizer run).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

# Every Debian package the build, the tests and the bench harness need.
PKGS="build-essential cmake pkg-config libre-dev libwebsockets-dev libev-dev
      libsrtp2-dev libopus-dev libspeexdsp-dev libjansson-dev libssl-dev
      sip-tester python3 gnuplot-nox iproute2 procps"

deps() {
	missing=""
	for p in $PKGS; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		     grep -q "install ok installed"; then
			missing="$missing $p"
		fi
	done
	[ -z "$missing" ] && return 0
	echo "setup: installing$missing"
	SUDO=""
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null ||
			{ echo "setup: need root (or sudo) to install$missing" >&2; exit 1; }
		SUDO=sudo
	fi
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
	# shellcheck disable=SC2086
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends $missing
}

jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

build() { # build <dir> [cmake args...]
	dir=$1; shift
	cmake -S . -B "$dir" "$@" >/dev/null &&
		cmake --build "$dir" -j "$jobs"
}

case "${1:-}" in
deps)
	deps
	;;
build)
	deps
	build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
	;;
run)
	deps
	build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
	exec "$top/scripts/demo.sh" "$top/build"
	;;
test)
	deps
	# Both builds run whatever the other's result, so one failure does
	# not hide another; the summary names each and the exit status is 1
	# when either failed.
	plain=failed; asan=skipped
	if build build -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
	   (cd build && ctest --output-on-failure -j "$jobs"); then
		plain=passed
	fi
	if [ "${CB_SKIP_SANITIZE:-0}" != 1 ]; then
		asan=failed
		if build build-asan -DCMAKE_BUILD_TYPE=Debug -DCB_SANITIZE=ON &&
		   (cd build-asan && ctest --output-on-failure -j "$jobs"); then
			asan=passed
		fi
	fi
	echo "setup: plain build: $plain; ASan+UBSan build: $asan"
	[ "$plain" = passed ] && [ "$asan" != failed ] ||
		{ echo "setup: tests failed" >&2; exit 1; }
	echo "setup: all tests passed"
	;;
*)
	sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
