#!/usr/bin/env bash
# `npm run model:train [-- options]`: create (once) the pinned training venv outside the repository, then
# run the pipeline (train.py --help lists the options; --signing-key <path> signs with your own key).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${VIGIL_TRAIN_VENV:-$HOME/.cache/vigil/venv-train}"
py="${VIGIL_TRAIN_PYTHON:-python3}"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "== training venv: $venv (from models/train/requirements.txt)"
  "$py" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  echo "$want" >"$stamp"
fi
exec "$venv/bin/python" "$here/train.py" "$@"
