#!/usr/bin/env bash
# Services the tests expect to find already running (the others — KDC, rsyslog, HAProxy,
# the MongoDB-wire server, the Kafka broker — are started by the tests themselves, on free
# loopback ports, and stopped by PID). On this machine kind Redis is started at boot; start
# it if it is not there.
set -euo pipefail
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  if command -v redis-server >/dev/null; then
    echo "services: starting redis-server on 127.0.0.1:6379"
    mkdir -p /tmp/wec-redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /tmp/wec-redis --logfile /tmp/wec-redis/redis.log
  else
    echo "services: no Redis on 127.0.0.1:6379 and redis-server not installed; Redis tests will skip"
  fi
fi
