#!/usr/bin/env bash
# Find or build the Temporal CLI (a real server: `temporal server start-dev`, SQLite, Web UI), offline.
# Order: $TEMPORAL_BIN; the versioned cache outside the clone; `temporal` on PATH; a build from the Go
# module proxy through tools/temporal-cli (pinned v1.8.2); else `go install` of v1.5.1 (no replace
# directive). Progress goes to stderr; the binary's path is the last line on stdout. Never commits it.
set -euo pipefail

VERSION="${VIGIL_TEMPORAL_VERSION:-1.8.2}"
FALLBACK_VERSION="1.5.1"
CACHE="${VIGIL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vigil}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '[temporal] %s\n' "$*" >&2; }

if [ -n "${TEMPORAL_BIN:-}" ]; then
  [ -x "$TEMPORAL_BIN" ] || { log "TEMPORAL_BIN=$TEMPORAL_BIN is not an executable file"; exit 1; }
  echo "$TEMPORAL_BIN"; exit 0
fi
for v in "$VERSION" "$FALLBACK_VERSION"; do
  if [ -x "$CACHE/temporal/$v/temporal" ]; then echo "$CACHE/temporal/$v/temporal"; exit 0; fi
done
if command -v temporal >/dev/null 2>&1 && temporal --version 2>/dev/null | grep -q 'Server'; then
  command -v temporal; exit 0
fi

command -v go >/dev/null 2>&1 || { log "no Temporal binary found and no Go toolchain to build one; install Go >= 1.26 or set TEMPORAL_BIN"; exit 1; }
mkdir -p "$CACHE/temporal"
exec 9>"$CACHE/temporal/.build.lock"
log "waiting for the build lock ($CACHE/temporal/.build.lock)"
flock 9
if [ -x "$CACHE/temporal/$VERSION/temporal" ]; then echo "$CACHE/temporal/$VERSION/temporal"; exit 0; fi

progress() { awk -v what="$1" '{ n++; if (n % 100 == 0) { printf "[temporal]   %s: %d packages\n", what, n > "/dev/stderr"; fflush("/dev/stderr") } } END { printf "[temporal]   %s: %d packages in all\n", what, n > "/dev/stderr" }'; }

start=$(date +%s)
out="$CACHE/temporal/$VERSION"
mkdir -p "$out"
log "building Temporal CLI v$VERSION from the Go module proxy (a cold build takes 5-10 minutes on 2 cores)"
log "step 1/2: downloading modules"
if (cd "$here/tools/temporal-cli" && go mod download -x 2>&1 | grep -E '^# get .*200' | progress "modules fetched") &&
   log "step 2/2: compiling" &&
   (cd "$here/tools/temporal-cli" && CGO_ENABLED=0 go build -v -trimpath \
      -ldflags "-s -w -X github.com/temporalio/cli/internal/temporalcli.Version=$VERSION" \
      -o "$out/temporal.tmp" github.com/temporalio/cli/cmd/temporal 2>&1 | progress "compiled"; exit "${PIPESTATUS[0]}") &&
   mv "$out/temporal.tmp" "$out/temporal"; then
  log "built $out/temporal ($(du -h "$out/temporal" | cut -f1)) in $(( $(date +%s) - start ))s"
  echo "$out/temporal"; exit 0
fi

log "the pinned build failed; falling back to go install of v$FALLBACK_VERSION (the last tag without a replace directive)"
out="$CACHE/temporal/$FALLBACK_VERSION"
mkdir -p "$out"
CGO_ENABLED=0 GOBIN="$out" go install -v -trimpath -ldflags "-s -w" "github.com/temporalio/cli/cmd/temporal@v$FALLBACK_VERSION" 2>&1 | progress "compiled"
[ -x "$out/temporal" ] || { log "could not build the Temporal CLI; set TEMPORAL_BIN or TEMPORAL_ADDRESS"; exit 1; }
log "built $out/temporal in $(( $(date +%s) - start ))s"
echo "$out/temporal"
