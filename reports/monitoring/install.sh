#!/usr/bin/env bash
# What the metrics test needs, installed once per machine (run as root; CI runs it from .ci/run): Debian's
# prometheus and prometheus-pushgateway packages. The test starts its own instances on loopback ports and stops them;
# nothing here starts a service.
set -euo pipefail
if command -v prometheus >/dev/null && command -v prometheus-pushgateway >/dev/null; then
  echo "monitoring-install: prometheus and prometheus-pushgateway already present"
  exit 0
fi
echo "monitoring-install: apt-get install prometheus prometheus-pushgateway"
apt-get update -qq
# policy-rc.d 101: the packages' maintainer scripts start no daemon (one the machine already has is left as it is)
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus prometheus-pushgateway >/dev/null
prometheus --version 2>&1 | head -1
