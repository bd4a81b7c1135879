#!/usr/bin/env bash
# What the suite needs besides node_modules, brought by `npm test` itself so that the README's
# `npm ci && npm test` works on a fresh machine: a Redis answering on REDIS_URL (started here
# when none does; nothing kept on disk), Debian's Chromium for the dashboard test, Debian's
# promtool (package prometheus) for the alert rules' unit tests and Debian's
# prometheus-alertmanager for the test of policies/alertmanager.yaml.
set -euo pipefail
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
hostport="${REDIS_URL#*://}"; hostport="${hostport%%/*}"; hostport="${hostport##*@}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$hostport" ] && port=6379
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi
if ! redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1; then
  dir="$(mktemp -d)"
  redis-server --daemonize yes --bind "$host" --port "$port" --save "" --appendonly no --dir "$dir" --logfile "$dir/redis.log"
  for _ in $(seq 1 50); do redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
# The dashboard test drives Debian's Chromium (playwright-core never downloads a browser here).
if [ ! -x /usr/bin/chromium ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
# The alert tests run `promtool test rules` (Debian's package prometheus, 12 small packages with
# --no-install-recommends). Its postinst would start a Prometheus server on :9090, the port dualread's
# admin defaults to: a policy-rc.d answering 101 ("forbidden") keeps invoke-rc.d and
# deb-systemd-invoke from starting it, and the unit is disabled so no boot starts it either.
# An existing policy-rc.d (containers ship one) is left as it is.
if ! command -v promtool >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$guard" >/dev/null
    $SUDO chmod 755 "$guard"
  fi
  status=0
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null || status=$?
  if [ -n "$guard" ]; then $SUDO rm -f "$guard"; fi
  if [ -d /run/systemd/system ]; then $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true; fi
  if [ "$status" -ne 0 ]; then exit "$status"; fi
fi
# The Alertmanager test runs two real Alertmanagers (Debian's prometheus-alertmanager). Its postinst
# would start one on :9093: the same policy-rc.d guard keeps it from starting, and the unit is disabled.
if ! command -v prometheus-alertmanager >/dev/null 2>&1 && [ -z "${ALERTMANAGER:-}" ]; then
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
    echo "test/services.sh: the Alertmanager test needs Debian's prometheus-alertmanager: run as root (or with sudo), or set ALERTMANAGER to an alertmanager binary" >&2
    exit 1
  fi
  $SUDO apt-get update -qq
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$guard" >/dev/null
    $SUDO chmod 755 "$guard"
  fi
  status=0
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null || status=$?
  if [ -n "$guard" ]; then $SUDO rm -f "$guard"; fi
  if [ -d /run/systemd/system ]; then $SUDO systemctl disable --now prometheus-alertmanager.service >/dev/null 2>&1 || true; fi
  if [ "$status" -ne 0 ]; then exit "$status"; fi
fi
