#!/usr/bin/env bash
# Runs the README's test command, `npm ci && npm test`, from a fresh clone as on a fresh machine of
# this kind: no Chromium, no promtool, no Redis installed and none answering at REDIS_URL, an
# empty HOME (so an empty npm cache), and a /tmp of its own. Run as root on a Debian machine
# (the development and CI machines are):
#
#   scripts/fresh-machine.sh [REPO [COMMIT]]     # default: this repository, its HEAD commit
#
# How: a private mount namespace and PID namespace (unshare) hold an overlay of this machine's own
# root filesystem, so the run starts from the machine's image (its Node, npm, git and apt) while
# everything it installs or removes lands in a scratch upper layer that is deleted afterwards.
# Inside it, Chromium, redis-server and prometheus (promtool) and prometheus-alertmanager are purged (in the overlay only; the
# machine keeps its own), so test/services.sh has to apt-get install them and start the Redis
# itself. The network is
# the machine's (apt and the npm registry are needed), so REDIS_URL is a free loopback port, and a
# policy-rc.d keeps the packages' maintainer scripts from starting or stopping services: the
# machine's own Redis on 6379 is never touched. Processes left in the PID namespace (the Redis that
# npm test started) end with it.
#
# The output goes to stdout and to FRESH_LOG (default: a file named after the scratch directory);
# KEEP=1 keeps the scratch directory; FRESH_CMD runs another command in the clone instead (for
# example `FRESH_CMD='bash test/services.sh' scripts/fresh-machine.sh`). Exit status: the command's.
set -euo pipefail

if [ -z "${FRESH_INNER:-}" ]; then
  [ "$(id -u)" -eq 0 ] || { echo "run as root (it mounts an overlay in a namespace of its own)" >&2; exit 2; }
  REPO="$(cd "${1:-$(dirname "$0")/..}" && git rev-parse --show-toplevel)"
  COMMIT="$(git -C "$REPO" rev-parse "${2:-HEAD}")"
  WORK="$(mktemp -d /var/tmp/dualread-fresh.XXXXXX)"
  LOG="${FRESH_LOG:-$WORK.log}"
  # A loopback port where nothing answers.
  while :; do
    PORT=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || break
  done
  echo "fresh machine: $REPO at $COMMIT, scratch $WORK, REDIS_URL=redis://127.0.0.1:$PORT" | tee "$LOG"
  # The overlay's lower layer is the live root: a dpkg run half-way through would be seen half-done.
  for _ in $(seq 1 120); do pgrep -x 'dpkg|apt-get|apt' >/dev/null || break; echo "waiting for this machine's dpkg to finish"; sleep 5; done
  set +e
  FRESH_INNER=1 REPO="$REPO" COMMIT="$COMMIT" WORK="$WORK" PORT="$PORT" FRESH_CMD="${FRESH_CMD:-npm ci && npm test}" \
    unshare --mount --pid --fork --propagation private -- "$(readlink -f "$0")" 2>&1 | tee -a "$LOG"
  status=${PIPESTATUS[0]}
  set -e
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
  echo "fresh machine: exit status $status" | tee -a "$LOG"
  exit "$status"
fi

# In the namespaces: the overlay, the kernel file systems, a /tmp of its own.
ROOT="$WORK/root"
mkdir -p "$WORK/upper" "$WORK/overlay-work" "$ROOT"
mount -t overlay overlay -o "lowerdir=/,upperdir=$WORK/upper,workdir=$WORK/overlay-work" "$ROOT"
mount -t proc proc "$ROOT/proc"
mount --rbind /sys "$ROOT/sys"
mount --rbind /dev "$ROOT/dev"
mount -t tmpfs tmpfs "$ROOT/tmp"

# The machine's environment as CI would have it, less what points at this session: a new HOME,
# the system PATH, and only the locale, terminal, proxy and CA settings kept.
keep=(HOME=/home/fresh PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "REDIS_URL=redis://127.0.0.1:$PORT")
while IFS='=' read -r name value; do
  case "$name" in
    LANG|LC_*|TERM|http_proxy|https_proxy|no_proxy|HTTP_PROXY|HTTPS_PROXY|NO_PROXY|*_CA_*|*CA_BUNDLE|*CA_CERTS*|SSL_CERT_*|NODE_EXTRA_CA_CERTS|GIT_SSL_CAINFO|PIP_CERT) keep+=("$name=$value") ;;
  esac
done < <(env)

chroot "$ROOT" env -i "${keep[@]}" REPO="$REPO" COMMIT="$COMMIT" FRESH_CMD="$FRESH_CMD" bash -euo pipefail -c '
  if [ -n "$(dpkg --audit)" ]; then echo "this machine'"'"'s dpkg was half-way through an operation; run again when it is done" >&2; exit 2; fi
  printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  purge=""
  for pkg in chromium chromium-common redis-server redis-tools prometheus prometheus-alertmanager; do dpkg -s "$pkg" >/dev/null 2>&1 && purge="$purge $pkg"; done
  echo "== purged in the overlay:${purge:- nothing}"
  if [ -n "${purge// }" ]; then DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $purge >/dev/null; fi
  rm -rf "$HOME" && mkdir -p "$HOME"
  echo "== the machine before: $(node --version) (system node), npm $(npm --version), HOME $HOME (empty: $(ls -A "$HOME" | wc -l) entries)"
  echo "== chromium on PATH: $(command -v chromium || echo none); /usr/bin/chromium: $([ -e /usr/bin/chromium ] && echo present || echo absent); redis-server: $(command -v redis-server || echo none)"
  if (exec 3<>/dev/tcp/127.0.0.1/${REDIS_URL##*:}) 2>/dev/null; then echo "something answers at $REDIS_URL" >&2; exit 2; fi
  echo "== nothing answers at $REDIS_URL"
  git clone -q "$REPO" "$HOME/dualread"
  cd "$HOME/dualread"
  git -c advice.detachedHead=false checkout -q "$COMMIT"
  echo "== fresh clone at $(git rev-parse HEAD); running: $FRESH_CMD"
  start=$(date +%s)
  set +e
  bash -c "$FRESH_CMD"
  status=$?
  set -e
  echo "== $FRESH_CMD: exit status $status after $(( $(date +%s) - start )) s"
  echo "== after: chromium $(command -v chromium || echo none), redis-server $(command -v redis-server || echo none)"
  exit $status
'
