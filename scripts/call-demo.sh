#!/bin/sh
# Place one test call with SIPp, as a carrier would:
#   scripts/call-demo.sh [NUMBER] [GATEWAY_ADDR:PORT] [CALLS]
# Plays SIPp's own A-law recording (with RFC 4733 key presses) to the number
# and hangs up at the end of it. Defaults: the demo number on the demo
# gateway, one call.
set -eu
number=${1:-+14155551234}
gw=${2:-127.0.0.1:5060}
calls=${3:-1}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/pcap"
cp /usr/share/sip-tester/*.pcap "$work/pcap/"
cd "$work"
# -p 5070: SIPp's own SIP port, away from the gateway's 5060
exec sipp -sn uac_pcap -s "$number" -m "$calls" -l "$calls" \
	-i 127.0.0.1 -p 5070 -nostdin -timeout 60s "$gw"
