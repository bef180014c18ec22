#!/usr/bin/env bash
# The browser the portal's tests drive (tests/portal): Debian's chromium and chromedriver, headless, and
# axe-core (npm) for the accessibility checks; everything under .cache/ (git-ignored), no root needed.
# - chromium and chromedriver on PATH (apt-get install chromium chromium-driver) are used as they are;
# - otherwise apt itself, pointed at private folders under .cache/apt (its own package lists, the
#   machine's sources and dpkg status), lists the packages chromium needs that the machine lacks,
#   downloads them (`apt-get download`) and unpacks them (`dpkg-deb -x`) into .cache/chromium/root,
#   run with LD_LIBRARY_PATH (tests/portal/browser.py).
# Prints where the browser is. --check: exit 0 when everything is in place (nothing to do).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="$ROOT/.cache"
DEST="$CACHE/chromium"
AXE_VERSION=4.10.3
AXE="$CACHE/axe-core/axe.min.js"

have_system() { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }
have_unpacked() { [[ -x "$DEST/root/usr/lib/chromium/chromium" && -x "$DEST/root/usr/lib/chromium/chromedriver" ]]; }

if [[ "${1:-}" == --check ]]; then
  { have_system || have_unpacked; } && [[ -f "$AXE" ]]
  exit
fi

if [[ ! -f "$AXE" ]]; then
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null)
  mkdir -p "$CACHE/axe-core"
  tar -xzf "$tmp"/axe-core-*.tgz -C "$tmp" package/axe.min.js
  mv "$tmp/package/axe.min.js" "$AXE" && rm -rf "$tmp"
fi

if have_system; then
  echo "chromium: $(command -v chromium) (on PATH)"
  exit 0
fi
if ! have_unpacked; then
  APT="$CACHE/apt"
  mkdir -p "$APT/lists/partial" "$APT/archives/partial"
  opts=(-o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT" -o "Dir::Cache::archives=$APT/archives"
        -o Debug::NoLocking=1 -o "APT::Sandbox::User=$(id -un)" -o Acquire::Retries=3)
  apt-get "${opts[@]}" update
  # What installing them would add to this machine: exactly the packages missing here.
  mapfile -t missing < <(apt-get "${opts[@]}" --simulate --no-install-recommends install chromium chromium-driver \
                         | awk '/^Inst /{print $2}')
  [[ ${#missing[@]} -gt 0 ]] || { echo "apt found nothing to install for chromium" >&2; exit 1; }
  debs="$APT/debs"
  rm -rf "$debs" "$DEST.partial" && mkdir -p "$debs" "$DEST.partial/root"
  (cd "$debs" && apt-get "${opts[@]}" download "${missing[@]}")
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$DEST.partial/root"; done
  rm -rf "$DEST" && mv "$DEST.partial" "$DEST" && rm -rf "$debs"
fi
echo "chromium: $DEST/root/usr/lib/chromium/chromium (unpacked from Debian's packages)"
