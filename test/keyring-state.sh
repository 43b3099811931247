#!/usr/bin/env bash
# Run a command against a real gnome-keyring in a named state, on a private D-Bus bus:
#   bash test/keyring-state.sh <usable|locked|absent|hung|nobus> command args...
# usable: an unlocked default ("login") keyring; locked: the login keyring exists but is locked (a restarted
# daemon, as over SSH); absent: a daemon with no keyring at all (no default collection); hung: usable, then
# the daemon is frozen with SIGSTOP; nobus: no D-Bus bus at the address given.
# KEYRING_STATE_SEED: a shell command run while the keyring is still unlocked (locked state only), e.g. to store
# an entry that the locked keyring then holds.
#
# The bus is started from a config without <servicedir>: nothing is ever auto-started on it. (The flaky
# "hangs" test froze the daemon before it owned org.freedesktop.secrets, so the session bus auto-started a
# fresh gnome-keyring with the bus's own environment, which could touch the real ~/.local/share/keyrings.)
# The daemon frozen is the one the bus names as the owner of org.freedesktop.secrets, after it owns it.
# The fixture's own log goes to stderr, prefixed "keyring-state:", for the test to print on failure.
set -uo pipefail
state="${1:?state}"
shift
D="$(mktemp -d)"
log() { echo "keyring-state: $*" >&2; }
export HOME="$D/home" XDG_DATA_HOME="$D/data" XDG_RUNTIME_DIR="$D/run" XDG_CONFIG_HOME="$D/config" XDG_CACHE_HOME="$D/cache"
mkdir -p "$HOME" "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME"
chmod 700 "$XDG_RUNTIME_DIR"
unset GNOME_KEYRING_CONTROL SSH_AUTH_SOCK DISPLAY WAYLAND_DISPLAY

dpid="" kpid=""
cleanup() {
  [ -n "$kpid" ] && { kill -CONT "$kpid" 2>/dev/null; kill "$kpid" 2>/dev/null; }
  [ -n "$dpid" ] && kill "$dpid" 2>/dev/null
  rm -rf "$D"
}
trap cleanup EXIT

if [ "$state" = nobus ]; then
  export DBUS_SESSION_BUS_ADDRESS="unix:path=$D/no-bus"
  log "nobus: DBUS_SESSION_BUS_ADDRESS=$DBUS_SESSION_BUS_ADDRESS (nothing listens)"
  "$@"
  exit $?
fi

cat >"$D/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$D/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
dpid="$(dbus-daemon --config-file="$D/bus.conf" --fork --print-pid=1 2>>"$D/daemons.log")" || { log "dbus-daemon failed"; cat "$D/daemons.log" >&2; exit 98; }
export DBUS_SESSION_BUS_ADDRESS="unix:path=$D/bus"

owner_pid() {
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.GetConnectionUnixProcessID string:org.freedesktop.secrets 2>/dev/null | awk '/uint32/ { print $2 }'
}
# Wait until a gnome-keyring owns org.freedesktop.secrets on this bus; its pid.
wait_owner() {
  local p=""
  for _ in $(seq 100); do
    p="$(owner_pid)"
    [ -n "$p" ] && { echo "$p"; return 0; }
    sleep 0.05
  done
  return 1
}
start_keyring() { # $1: unlock password, or empty for none
  if [ -n "$1" ]; then
    printf '%s' "$1" | gnome-keyring-daemon --unlock --components=secrets >>"$D/daemons.log" 2>&1
  else
    gnome-keyring-daemon --start --components=secrets >>"$D/daemons.log" 2>&1
  fi
  kpid="$(wait_owner)" || { log "no gnome-keyring owns org.freedesktop.secrets after 5 s"; cat "$D/daemons.log" >&2; exit 98; }
}
stop_keyring() {
  kill "$kpid"
  for _ in $(seq 100); do kill -0 "$kpid" 2>/dev/null || break; sleep 0.05; done
  kpid=""
  for _ in $(seq 100); do [ -z "$(owner_pid)" ] && return 0; sleep 0.05; done
  log "org.freedesktop.secrets still owned after the daemon stopped"; exit 98
}

case "$state" in
  usable) start_keyring tasty-fixture ;;
  locked)
    start_keyring tasty-fixture
    if [ -n "${KEYRING_STATE_SEED:-}" ]; then bash -c "$KEYRING_STATE_SEED" >&2 || { log "the seed command failed"; exit 98; }; fi
    stop_keyring
    start_keyring "" ;;
  absent) start_keyring "" ;;
  hung) start_keyring tasty-fixture; kill -STOP "$kpid" ;;
  *) log "unknown state $state"; exit 99 ;;
esac
log "$state: bus $DBUS_SESSION_BUS_ADDRESS (pid $dpid, no service activation), gnome-keyring pid $kpid, keyrings: $(ls "$XDG_DATA_HOME/keyrings" 2>/dev/null | tr '\n' ' ')"
"$@"
rc=$?
[ "$rc" -ne 0 ] && [ -s "$D/daemons.log" ] && sed 's/^/keyring-state: daemon: /' "$D/daemons.log" >&2
exit "$rc"
