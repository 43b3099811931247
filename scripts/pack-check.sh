#!/usr/bin/env bash
# The package as a user gets it: `npm pack`, `npm install -g` of the tarball into a temp prefix, then the
# installed `tasty --version`, `tasty env` and `tasty status`. Fails on any install-scripts or EBADENGINE warning, a
# wrong version, or a status that does not say plainly that the keychain cannot be read (exit 7) with no bus.
set -euo pipefail
cd "$(dirname "$0")/.."
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
fail() { echo "pack-check: $*" >&2; exit 1; }

tgz="$(npm pack --silent --pack-destination "$T" | tail -n 1)"
[ -f "$T/$tgz" ] || fail "npm pack made no tarball"
tar -tzf "$T/$tgz" >"$T/files.txt"   # (not piped into grep -q: an early exit would fail tar under pipefail)
grep -qx 'package/dist/cli.js' "$T/files.txt" || fail "the tarball has no dist/cli.js"
grep -qx 'package/dist/fast.cjs' "$T/files.txt" || fail "the tarball has no dist/fast.cjs (the fast path)"
grep -qx 'package/bin/package.json' "$T/files.txt" || fail "the tarball has no bin/package.json (bin/tasty.js is CommonJS)"
npm install -g --prefix "$T/prefix" --no-audit --no-fund "$T/$tgz" >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "npm install -g failed"; }
if grep -Eq 'install-scripts|EBADENGINE|npm (warn|error)' "$T/install.log"; then cat "$T/install.log"; fail "npm install -g warned"; fi

tasty="$T/prefix/bin/tasty"
want="$(node -p 'require("./package.json").version')"
got="$("$tasty" --version)"
[ "$got" = "$want" ] || fail "tasty --version printed '$got', want '$want'"

# Offline, no credentials needed: exit 0.
"$tasty" env >/dev/null 2>"$T/env.err" || { cat "$T/env.err"; fail "tasty env failed"; }
# A fresh config dir and no keychain reachable: tasty cannot tell whether you are logged in (exit 7), and says why.
set +e
TASTY_CONFIG_DIR="$T/config" DBUS_SESSION_BUS_ADDRESS="unix:path=$T/no-bus" "$tasty" status >"$T/status.out" 2>"$T/status.err"
rc=$?
set -e
[ "$rc" -eq 7 ] || { cat "$T/status.out" "$T/status.err"; fail "tasty status exited $rc, want 7"; }
grep -q 'Cannot tell whether you are logged in' "$T/status.out" || { cat "$T/status.out" "$T/status.err"; fail "tasty status did not say it cannot tell"; }
grep -q 'no Secret Service is running' "$T/status.out" || { cat "$T/status.out" "$T/status.err"; fail "tasty status did not name the missing Secret Service"; }
if grep -Eq '^\s+at ' "$T/status.err"; then cat "$T/status.err"; fail "tasty status printed a stack trace"; fi
echo "pack-check: $tgz installs with npm install -g (no warnings); tasty --version = $got; tasty env = exit 0; tasty status without a keychain = exit 7, named"
