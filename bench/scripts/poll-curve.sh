#!/bin/sh
# poll-curve.sh [INTERVALS] [RATE]: for each poll.interval.ms of INTERVALS
# (default "5 100 10 50 25", interleaved so that drift spreads over the
# values), sets it on the running stack's connectors, lets them settle, then
# measures the CPU at rest (loadgen -rest-only, 40 s) and the latency at RATE
# orders/s (default 150; one 20 s step). Prints one line per interval; the
# full results go to bench/results/poll-<interval>-{rest,load}.json.
# EXTRA="KEY VALUE ..." sets further connector settings at each interval.
# Run from the repository with the stack running (make run) and its
# GATEWAY_URL / CONNECT_URL / POSTGRES_PORT in the environment when they are
# not the defaults.
set -eu
intervals=${1:-5 100 10 50 25}
rate=${2:-150}
loadgen=${LOADGEN:-go run ./bench/cmd/loadgen}
for p in $intervals; do
	# shellcheck disable=SC2086
	bench/scripts/connector-set.sh poll.interval.ms "$p" ${EXTRA:-} >&2
	sleep 15
	$loadgen -rest-only -rest 40s -out "bench/results/poll-$p-rest.json" >/tmp/poll-curve-rest.txt 2>&2 || true
	rest=$(grep '^RESULT' /tmp/poll-curve-rest.txt | sed 's/.*idle_cpu_pct=//')
	comps=$(sed -n '/^ *window/,/^ *rest/p' /tmp/poll-curve-rest.txt | tr -s ' ' | tr '\n' '|')
	$loadgen -quick -rates "$rate" -fixed-e2e-rate "$rate" -fixed-create-rate 0 -ceiling=false -accounts 100 \
		-rest 0 -warmup 5s -duration 20s -out "bench/results/poll-$p-load.json" >/tmp/poll-curve-load.txt 2>&2 || true
	line=$(grep '^RESULT' /tmp/poll-curve-load.txt)
	srv=$(jq -r '.steps[0].server | "srv_e2e_p50_ms=\(.e2e_p50_ms) srv_e2e_p99_ms=\(.e2e_p99_ms)"' "bench/results/poll-$p-load.json")
	cpo=$(jq -r '.steps[0].cpu_ms_per_order' "bench/results/poll-$p-load.json")
	echo "poll.interval.ms=$p idle_cpu_pct=$rest ${line#RESULT } $srv cpu_ms_per_order_at_${rate}=$cpo"
	echo "  rest: $comps"
done
