#!/usr/bin/env bash
# Install a real ticketing server from Debian for the end-to-end tests: Redmine 5 on SQLite, with the
# `thin` app server. Idempotent: does nothing when it is already installed. Needs root (apt-get) and the
# Debian archive. The tests start and stop the server themselves (test/helpers/redmine.ts); this script
# only installs it. Usage: bash scripts/ticketing-server.sh [--check]
set -euo pipefail
log() { printf '[ticketing-server] %s\n' "$*" >&2; }

installed() {
  dpkg-query -W -f='${Status}' redmine 2>/dev/null | grep -q 'install ok installed' &&
    dpkg-query -W -f='${Status}' redmine-sqlite 2>/dev/null | grep -q 'install ok installed' &&
    dpkg-query -W -f='${Status}' thin 2>/dev/null | grep -q 'install ok installed' &&
    [ -f /etc/redmine/default/database.yml ]
}

if installed; then log "Redmine is installed ($(dpkg-query -W -f='${Version}' redmine))"; exit 0; fi
if [ "${1:-}" = "--check" ]; then log "Redmine is not installed"; exit 1; fi
[ "$(id -u)" = 0 ] || { log "installing Redmine needs root (apt-get); run: sudo bash $0"; exit 1; }

export DEBIAN_FRONTEND=noninteractive
# Answer dbconfig-common's questions up front: a SQLite database created by the package.
debconf-set-selections <<'SEL'
redmine redmine/instances/default/dbconfig-install boolean true
redmine redmine/instances/default/database-type select sqlite3
redmine redmine/instances/default/app-password password
redmine redmine/instances/default/app-password-confirm password
SEL
start=$(date +%s)
log "apt-get update"
apt-get update -qq >&2 || log "apt-get update failed; trying with the current package lists"
log "apt-get install redmine redmine-sqlite thin (about 30 s)"
apt-get install -y -qq --no-install-recommends redmine redmine-sqlite thin >&2
installed || { log "Redmine did not install completely (see the apt output above)"; exit 1; }
log "Redmine $(dpkg-query -W -f='${Version}' redmine) installed in $(( $(date +%s) - start )) s"
