#!/usr/bin/env bash
# Run a command inside a private D-Bus session with an unlocked gnome-keyring (a real Secret Service),
# keyring files in a temp dir. Used by CI; handy locally: bash scripts/with-keyring.sh npm test
set -euo pipefail
if [ -z "${TASTY_IN_KEYRING_SESSION:-}" ]; then
  command -v dbus-run-session >/dev/null && command -v gnome-keyring-daemon >/dev/null || {
    echo "with-keyring: needs dbus-run-session and gnome-keyring-daemon (apt-get install dbus gnome-keyring libsecret-tools)" >&2
    exit 2
  }
  export TASTY_IN_KEYRING_SESSION=1
  exec dbus-run-session -- bash "$0" "$@"
fi
KEYRING_HOME="$(mktemp -d)"
trap 'rm -rf "$KEYRING_HOME"' EXIT
export XDG_DATA_HOME="$KEYRING_HOME/data" XDG_RUNTIME_DIR="$KEYRING_HOME/run"
mkdir -p "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR"; chmod 700 "$XDG_RUNTIME_DIR"
# Piping a password creates and unlocks a login keyring; the daemon serves org.freedesktop.secrets.
printf 'tasty-ci-keyring' | gnome-keyring-daemon --unlock --components=secrets >/dev/null
export TASTY_TEST_KEYCHAIN=required
"$@"
