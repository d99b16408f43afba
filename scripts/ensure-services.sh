#!/usr/bin/env bash
# Installs and starts what the tests need when this machine lacks it:
# the mosquitto binary (tests start their own brokers), a PostgreSQL on 127.0.0.1:5432 (tests create
# their own databases on it), Debian's Chromium for the browser tests, and Pango with a font for
# the dashboard's PDF reports (WeasyPrint draws text with them). Never stops anything.
set -euo pipefail

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
ldconfig -p | grep -q 'libpangoft2-1.0.so.0' || need_apt+=(libpango-1.0-0 libpangoft2-1.0-0)
[ -d /usr/share/fonts/truetype/dejavu ] || need_apt+=(fonts-dejavu-core)
command -v pg_ctlcluster >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "ensure-services: installing ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "ensure-services: missing ${need_apt[*]} and not root; install them first" >&2
    exit 1
  fi
fi

pg_ready() { python3 - <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(1)
try:
    s.connect(("127.0.0.1", 5432))
except OSError:
    sys.exit(1)
PY
}

if ! pg_ready; then
  echo "ensure-services: starting PostgreSQL"
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -n "$(ls /etc/postgresql 2>/dev/null)" ]; then
    ver=$(ls /etc/postgresql | sort -V | tail -n1)
    # trust on loopback, as the tests expect
    hba=/etc/postgresql/$ver/main/pg_hba.conf
    grep -q "siaga-tests" "$hba" || sed -i '1i host all all 127.0.0.1/32 trust # siaga-tests' "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  fi
  for _ in $(seq 1 50); do pg_ready && break; sleep 0.2; done
  pg_ready || { echo "ensure-services: PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
fi
echo "ensure-services: mosquitto $(command -v mosquitto || echo /usr/sbin/mosquitto), PostgreSQL on 5432, chromium and pango ok"
