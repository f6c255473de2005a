#!/usr/bin/env bash
# wait_ready.sh PORT PID: wait until the ensemble on PORT is ready, or fail if PID (the launch) died.
for _ in $(seq 1 600); do
    curl -sf "localhost:$1/v2/models/ensemble/ready" >/dev/null 2>&1 && exit 0
    kill -0 "$2" 2>/dev/null || { echo "launch $2 died" >&2; exit 1; }
    sleep 1
done
echo "not ready after 600 s" >&2; exit 1
