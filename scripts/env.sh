# Source this file (bash/sh) to use the checkout's environment in a shell:
#   source scripts/env.sh
# It activates the virtualenv and exports what the colcon-built messages need (the same
# variables `tracegen bringup` gives its nodes: see src/tracegen/runtime_env.py).
_tracegen_root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
_tracegen_venv=${TRACEGEN_VENV:-$_tracegen_root/.venv}
if [ ! -x "$_tracegen_venv/bin/python" ]; then
  echo "tracegen: no virtualenv at $_tracegen_venv; run scripts/setup.sh first" >&2
  return 1 2>/dev/null || exit 1
fi
export VIRTUAL_ENV=$_tracegen_venv
export PATH="$_tracegen_venv/bin:$PATH"
eval "$(PYTHONPATH="$_tracegen_root/src" "$_tracegen_venv/bin/python" -m tracegen.runtime_env --shell)"
unset _tracegen_root _tracegen_venv
