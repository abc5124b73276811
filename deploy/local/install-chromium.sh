#!/bin/sh
# Installs Debian's Chromium for the browser tests (Playwright drives it through
# `executable_path`; Playwright's own browser downloads are never used), if it is missing.
# Where it cannot be installed, this fails saying what to install: the browser tests are
# part of `make test` and are never skipped.
set -eu

# EMK_CHROMIUM: a Chromium elsewhere (another system's package), used instead.
if [ -x "${EMK_CHROMIUM:-/usr/bin/chromium}" ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "Chromium is missing: install Debian's chromium package" \
        "(sudo apt-get install --no-install-recommends chromium), then run make again" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "Chromium is missing and there is no apt-get here:" \
        "install Chromium with this system's package manager and set EMK_CHROMIUM to it" >&2
    exit 1
fi

echo "==> installing Chromium for the browser tests (apt-get install chromium)"
output=$(mktemp)
trap 'rm -f "$output"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq &&
    apt-get install -y -qq --no-install-recommends chromium; } >"$output" 2>&1; then
    cat "$output" >&2
    echo "installing chromium failed (the output above)" >&2
    exit 1
fi
