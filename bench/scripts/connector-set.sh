#!/bin/sh
# connector-set.sh KEY VALUE [KEY VALUE ...]: changes settings of every
# connector of the running Kafka Connect worker ($CONNECT_URL, default
# http://127.0.0.1:8083) in place, then waits until each runs again.
# For back-to-back measurements of connector settings; `make run` applies
# connect/*.json again at its next start.
set -eu
url=${CONNECT_URL:-http://127.0.0.1:8083}
[ $# -ge 2 ] && [ $(($# % 2)) -eq 0 ] || { echo "usage: $0 KEY VALUE [KEY VALUE ...]" >&2; exit 2; }
filter='.'
args=""
i=0
while [ $# -gt 0 ]; do
	filter="$filter | .[\$k$i] = \$v$i"
	args="$args --arg k$i $1 --arg v$i $2"
	i=$((i + 1))
	shift 2
done
for c in $(curl -fsS "$url/connectors" | jq -r '.[]'); do
	# shellcheck disable=SC2086
	curl -fsS "$url/connectors/$c/config" | jq $args "$filter" |
		curl -fsS -X PUT -H 'Content-Type: application/json' --data-binary @- "$url/connectors/$c/config" >/dev/null
	echo "$c: $(curl -fsS "$url/connectors/$c/config" | jq -c "{\"poll.interval.ms\", \"status.update.interval.ms\", \"heartbeat.interval.ms\"}")"
done
for _ in $(seq 60); do
	if curl -fsS "$url/connectors?expand=status" | jq -e '[.[].status | .connector.state, .tasks[].state] | all(. == "RUNNING")' >/dev/null; then
		exit 0
	fi
	sleep 1
done
echo "connectors not RUNNING after 60s" >&2
exit 1
