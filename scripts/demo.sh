#!/bin/sh
# Run the demo: the example echo agent and the gateway on config/callbridge.conf.
# Called by `scripts/setup.sh run` with the build directory as argument.
# Ctrl-C stops both.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
conf=${CB_CONFIG:-$top/config/callbridge.conf}

"$build/examples/echo-agent" --addr 127.0.0.1 --port 8089 &
agent=$!
trap 'kill $agent 2>/dev/null; wait $agent 2>/dev/null || true' EXIT INT TERM

cat <<TXT

callbridge demo
  echo agent      ws://127.0.0.1:8089/echo (pid $agent)
  gateway         SIP on 127.0.0.1:5060 (UDP and TCP), settings $conf
  demo number     +14155551234 -> agent "echo"

In another terminal:
  $build/gateway/callbridgectl numbers list
  scripts/call-demo.sh                  (SIPp plays a recording to +14155551234)
  or point any softphone on this machine at sip:+14155551234@127.0.0.1:5060

TXT

"$build/gateway/callbridge" --config "$conf"
