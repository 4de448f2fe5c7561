#!/usr/bin/env bash
# Installs the system packages Atoll's tests and benchmarks use (etcd, redis tools and server, Chromium)
# with apt when they are missing. Needs root for apt; otherwise it prints what to install.
set -euo pipefail

need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# The TLS tests and `npm run bench -- security` make their certificates with openssl.
command -v openssl >/dev/null 2>&1 || need+=(openssl)

if [ ${#need[@]} -eq 0 ]; then
  echo "setup: all system packages present (etcd, etcdctl, redis-cli, redis-server, chromium, openssl)"
  exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: missing system packages: ${need[*]}" >&2
  echo "setup: install them as root, e.g.: apt-get update && apt-get install -y ${need[*]}" >&2
  exit 1
fi

echo "setup: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${need[@]}"
# Debian's redis-server package starts a system service on :6379; tests start their own servers on
# free ports, so stop the packaged one to keep the machine quiet (ignore failure where no init runs).
if command -v service >/dev/null 2>&1; then service redis-server stop >/dev/null 2>&1 || true; fi
if command -v service >/dev/null 2>&1; then service etcd stop >/dev/null 2>&1 || true; fi
echo "setup: done"
