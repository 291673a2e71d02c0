#!/usr/bin/env bash
# Creates .venv (Python 3.11) from the pinned requirements.txt when it is missing or the pins changed.
# Source it (`. setup_env.sh`) to get the environment activated in the calling shell.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3.11}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "error: $PYTHON not found; install Python 3.11 or set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
STAMP="$VENV/.requirements.sha256"
WANT="$(sha256sum "$ROOT/requirements.txt" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "setting up $VENV from requirements.txt (one time, about a minute)"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/requirements.txt"
  echo "$WANT" > "$STAMP"
fi
# The scripts in seen_pretraining/ and benchmarks/ put their own checkout first on the path; a .pth file naming a
# checkout, which venvs made by earlier versions hold, would name the wrong one once the checkout moves: removed.
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
rm -f "$SITE/niwt_root.pth"
# shellcheck disable=SC1091
. "$VENV/bin/activate"
