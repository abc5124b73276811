#!/bin/sh
# Installs ClamAV's clamd (Debian's clamav-daemon) for the local stack, if it is missing.
#
# The package's maintainer scripts would start clamav-daemon and clamav-freshclam (which
# downloads the regular signature database from the internet), and enable freshclam's daemon
# at boot. The local stack runs its own clamd with the repo's test signatures instead, so
# during the install a policy-rc.d forbids every service start, and freshclam is set to
# "manual" (no daemon, no cron job): nothing is started, nothing is downloaded.
set -eu

if command -v clamd >/dev/null 2>&1 || [ -x /usr/sbin/clamd ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "clamd (ClamAV) is missing: install Debian's clamav-daemon package" \
        "(sudo apt-get install --no-install-recommends clamav-daemon), then run make again" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "clamd (ClamAV) is missing and there is no apt-get here:" \
        "install ClamAV's clamd with this system's package manager" >&2
    exit 1
fi

echo "==> installing ClamAV's clamd (apt-get install clamav-daemon; no service is started)"

policy=/usr/sbin/policy-rc.d
saved="$policy.emk-saved"
output=$(mktemp)
finish() {
    rm -f "$policy"
    if [ -e "$saved" ]; then
        mv "$saved" "$policy"
    fi
    rm -f "$output"
}
# A saved one already there was left by an interrupted run: it is the original.
if [ -e "$policy" ] && [ ! -e "$saved" ]; then
    mv "$policy" "$saved"
fi
trap finish EXIT
trap 'exit 130' INT TERM
printf '#!/bin/sh\n# install-clamav.sh: no service starts during the install.\nexit 101\n' >"$policy"
chmod 755 "$policy"

# apt-get's chatter is shown only if it fails.
export DEBIAN_FRONTEND=noninteractive
if ! { echo "clamav-freshclam clamav-freshclam/autoupdate_freshclam select manual" |
    debconf-set-selections &&
    apt-get update -qq &&
    apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        clamav-daemon; } >"$output" 2>&1; then
    cat "$output" >&2
    echo "installing clamav-daemon failed (the output above)" >&2
    exit 1
fi
