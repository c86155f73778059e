#!/usr/bin/env bash
# Capture benign syscall traces on this (x86_64) machine with strace, one file per process:
#   bash models/train/capture-benign.sh <out-dir>
# writes <out-dir>/<workload>/trace.<pid> (strace -ff output). train.py turns them into syscall names and
# scores them with the trained model (the "strace check" of the model card). The raw traces stay outside
# the repository (default: ~/.cache/vigil/strace-benign). Workloads are read-only and take a few seconds.
set -euo pipefail
out="${1:?usage: capture-benign.sh <out-dir>}"
command -v strace >/dev/null || { echo "strace not found (Debian: apt-get install -y strace)" >&2; exit 3; }
repo="$(cd "$(dirname "$0")/../.." && pwd)"
rm -rf "$out" && mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cap() {
  local name="$1"
  shift
  mkdir -p "$out/$name"
  strace -f -ff -qq -o "$out/$name/trace" -- "$@" >/dev/null 2>&1 || true
}

cap ls-recursive ls -R /usr/share/doc
cap tar-gzip sh -c "tar -cf - -C '$repo' src activities | gzip -c > '$work/src.tar.gz'"
cap gunzip-list sh -c "gzip -dc '$work/src.tar.gz' | tar -tvf -"
cap sha256sum sh -c "find '$repo/src' -type f -name '*.ts' -print0 | xargs -0 sha256sum"
cap grep-recursive grep -rn --include='*.ts' 'export function' "$repo/src"
cap python-json python3 -c "import json, hashlib, os; d={p: hashlib.sha256(open(os.path.join('/etc', p), 'rb').read()).hexdigest() for p in ('passwd', 'group', 'hostname') if os.path.exists(os.path.join('/etc', p))}; print(json.dumps(d))"
cap python-sqlite python3 -c "import sqlite3; c=sqlite3.connect(':memory:'); c.execute('create table t(x)'); c.executemany('insert into t values (?)', [(i,) for i in range(10000)]); print(c.execute('select sum(x) from t').fetchone())"
cap shell-loop sh -c 'for i in 1 2 3 4 5; do date +%s >/dev/null; id -u >/dev/null; sleep 0.05; done'
cap git-log git -C "$repo" log --oneline -n 200
cap node-hash node -e "const c=require('node:crypto');let h='';for(let i=0;i<2000;i++)h=c.createHash('sha256').update(h+i).digest('hex');console.log(h)"
cap ps-aux ps aux
cap sort-uniq sh -c "cat /usr/share/dict/words 2>/dev/null /etc/services | sort | uniq -c | sort -rn | head -n 20"
echo "captured into $out: $(find "$out" -type f | wc -l) process traces"
