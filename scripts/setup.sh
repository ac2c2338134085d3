#!/usr/bin/env bash
# Set up this checkout on a machine of the project's kind (Debian 12, CPython 3.11, x86-64):
#   1. Debian packages (as root; otherwise says what to install),
#   2. a virtualenv (.venv, or $TRACEGEN_VENV) with every Python package pinned in
#      requirements/lock.txt and tracegen installed editable,
#   3. the include paths the ROS 2 message wheels hard-code (ENVIRONMENT.md),
#   4. the colcon build of the package (messages, nodes, share files) into .colcon/.
# Idempotent: each step records what it did under .setup-stamps/ and is skipped while its
# inputs are unchanged, so a second run takes about a second. Called by `make demo` and
# `make test`; safe to call by hand.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${TRACEGEN_VENV:-$ROOT/.venv}
PYTHON=${TRACEGEN_PYTHON:-python3.11}
STAMPS=$ROOT/.setup-stamps
COLCON_BASE=$ROOT/.colcon
DEB_PACKAGES=(libusb-1.0-0 libosmesa6 cmake g++ make)
WHEEL_PYTHON_ROOT=/opt/python/cp311-cp311

log() { printf '[setup] %s\n' "$*"; }
fail() {
  printf '[setup] FAILED: %s\n' "$1" >&2
  shift
  for line in "$@"; do printf '[setup]   %s\n' "$line" >&2; done
  exit 1
}
is_root() { [ "$(id -u)" = 0 ]; }
fingerprint() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_write() { mkdir -p "$STAMPS" && printf '%s' "$2" > "$STAMPS/$1"; }
quiet_pip_noise() { grep -v -e 'is ignored: it is neither a file nor a directory' || true; }

# --- 1. Debian packages --------------------------------------------------------------------
missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if is_root; then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || fail "apt-get update failed" \
      "check that this machine reaches its Debian mirror, then run scripts/setup.sh again"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || fail "apt-get install ${missing[*]} failed" "run it by hand to see why, then run scripts/setup.sh again"
  else
    fail "missing Debian packages: ${missing[*]}" \
      "libusb-1.0-0: pyrealsense2 needs it to import; libosmesa6: MuJoCo's off-screen rendering;" \
      "cmake, g++, make: the colcon build of the messages. Install them with" \
      "  sudo apt-get install -y ${missing[*]}" "then run scripts/setup.sh again."
  fi
fi

# --- 2. Virtualenv with the pinned packages ------------------------------------------------
command -v "$PYTHON" >/dev/null || fail "$PYTHON not found" \
  "the ROS 2 wheels are built for CPython 3.11; install python3.11 or set TRACEGEN_PYTHON"
venv_key=$(fingerprint "$ROOT/requirements/lock.txt" "$ROOT/setup.py")
if ! stamp_ok venv "$venv_key" || [ ! -x "$VENV/bin/python" ]; then
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating the virtualenv $VENV"
    "$PYTHON" -m venv "$VENV" || fail "could not create a virtualenv with $PYTHON" \
      "on Debian install python3-venv (sudo apt-get install -y python3-venv)"
  fi
  log "installing the pinned Python packages (requirements/lock.txt; a few minutes the first time)"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip 2>&1 | quiet_pip_noise
  if ! "$VENV/bin/python" -m pip install --quiet -r "$ROOT/requirements/lock.txt" 2> >(quiet_pip_noise >&2); then
    fail "pip could not install requirements/lock.txt" \
      "the error above names the package; PyPI must be reachable, and torch==2.13.0+cpu" \
      "is taken from this machine's local wheel directory (see ENVIRONMENT.md)"
  fi
  if ! "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$ROOT" 2> >(quiet_pip_noise >&2); then
    fail "pip could not install this checkout (setup.py) into $VENV" "the error above says why"
  fi
  "$VENV/bin/python" -m pip check >/dev/null || fail "pip check reports conflicts in $VENV" \
    "run '$VENV/bin/python -m pip check' to see them"
  stamp_write venv "$venv_key"
fi

# --- 3. Include paths hard-coded by the message wheels --------------------------------------
py_include=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
np_include=$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')
declare -A links=(
  ["$WHEEL_PYTHON_ROOT/include/python3.11"]="$py_include"
  ["$WHEEL_PYTHON_ROOT/lib/python3.11/site-packages/numpy/_core/include"]="$np_include"
)
for link in "${!links[@]}"; do
  target=${links[$link]}
  # Keep a real directory (a machine that has that Python) or a link to this venv's paths.
  if [ -e "$link" ] && { [ ! -L "$link" ] || [ "$(readlink -f "$link")" = "$(readlink -f "$target")" ]; }; then
    continue
  fi
  if is_root; then
    mkdir -p "$(dirname "$link")"
    ln -sfn "$target" "$link"
    log "linked $link -> $target"
  else
    fail "the ROS 2 message wheels need $link" \
      "create it once as root:  sudo mkdir -p $(dirname "$link") && sudo ln -sfn $target $link"
  fi
done

# --- 4. colcon build of the package --------------------------------------------------------
install_prefix=$COLCON_BASE/install/tracegen
build_inputs=("$ROOT/package.xml" "$ROOT/CMakeLists.txt" "$ROOT"/cmake/* "$ROOT"/msg/*.msg)
node_list=$(cd "$ROOT/src/tracegen_ros/nodes" 2>/dev/null && ls -1 *_node.py 2>/dev/null || true)
share_list=$(cd "$ROOT" && find launch config models -type f 2>/dev/null | LC_ALL=C sort | xargs cat 2>/dev/null | sha256sum)
build_key=$( { fingerprint "${build_inputs[@]}"; echo "$node_list"; echo "$share_list"; echo "$venv_key"; } | sha256sum | cut -c1-16)
if ! stamp_ok colcon "$build_key" || [ ! -f "$install_prefix/share/tracegen/package.xml" ]; then
  log "colcon build (messages, node executables, share files) into ${COLCON_BASE#"$ROOT"/}"
  mkdir -p "$COLCON_BASE"
  if ! (
    cd "$ROOT"
    export PATH="$VENV/bin:$PATH" VIRTUAL_ENV="$VENV"
    export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
    export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
    "$VENV/bin/colcon" --log-base "$COLCON_BASE/log" build \
      --base-paths "$ROOT" \
      --build-base "$COLCON_BASE/build" --install-base "$COLCON_BASE/install" \
      --event-handlers console_stderr- \
      --cmake-args \
        "-DPython3_EXECUTABLE=$VENV/bin/python" \
        "-DPython3_NumPy_INCLUDE_DIR=$WHEEL_PYTHON_ROOT/lib/python3.11/site-packages/numpy/_core/include" \
      >"$COLCON_BASE/last-build.log" 2>&1
  ); then
    tail -n 40 "$COLCON_BASE/log/latest_build/tracegen/stderr.log" >&2 2>/dev/null \
      || tail -n 40 "$COLCON_BASE/last-build.log" >&2
    fail "colcon build failed (full log: $COLCON_BASE/last-build.log)" \
      "a CMake 'Could not find a package configuration file provided by X' means a" \
      "ros-jazzy-* wheel is missing from requirements/direct.in"
  fi
  stamp_write colcon "$build_key"
fi

# --- 5. Robot models for the cross-embodiment corpus (tracegen sim-corpus) ------------------
# robosuite's wheel is used as pinned DATA: it ships MJCF + meshes of the UR5e, xArm7, Kinova
# Gen3, iiwa and Panda with their grippers. mujoco-menagerie on PyPI is a stub that downloads
# from GitHub at run time (unreachable here and in CI), and installing robosuite would pull in
# dependencies that break `pip check`; so the wheel is downloaded (not installed), its sha256
# checked, and only the folders the corpus uses extracted. TRACEGEN_ROBOSUITE_WHEEL may name a
# local copy of the wheel (offline machines).
ROBOSUITE_WHEEL=robosuite-1.5.2-py3-none-any.whl
ROBOSUITE_SHA256=b9e02df55de8949739de6ba1d196d2ba59cf33c51a76efcfbe5c2f73cdcf99ce
ROBOT_ASSETS=$ROOT/.cache/robot-assets/robosuite-1.5.2
if ! stamp_ok robot-assets "$ROBOSUITE_SHA256" || [ ! -d "$ROBOT_ASSETS/robots" ]; then
  log "extracting robot models from the pinned $ROBOSUITE_WHEEL into ${ROBOT_ASSETS#"$ROOT"/}"
  wheel_dir=$(mktemp -d)
  wheel=${TRACEGEN_ROBOSUITE_WHEEL:-$wheel_dir/$ROBOSUITE_WHEEL}
  if [ ! -f "$wheel" ]; then
    "$VENV/bin/python" -m pip download --quiet --no-deps robosuite==1.5.2 -d "$wheel_dir" 2> >(quiet_pip_noise >&2) \
      || { rm -rf "$wheel_dir"; fail "pip could not download robosuite==1.5.2 (its wheel holds the corpus's robot models)" \
        "PyPI must be reachable; or set TRACEGEN_ROBOSUITE_WHEEL to a local $ROBOSUITE_WHEEL"; }
  fi
  if ! echo "$ROBOSUITE_SHA256  $wheel" | sha256sum --check --quiet --status; then
    rm -rf "$wheel_dir"
    fail "$wheel does not have the pinned sha256 $ROBOSUITE_SHA256" "delete it and run scripts/setup.sh again"
  fi
  if ! "$VENV/bin/python" - "$wheel" "$ROBOT_ASSETS" <<'PY'
import shutil, sys, zipfile
from pathlib import Path
wheel, dest = sys.argv[1], Path(sys.argv[2])
prefix = "robosuite/models/assets/"
keep = [f"robots/{r}/" for r in ("ur5e", "xarm7", "kinova3", "iiwa", "panda")] + [
    f"grippers/{g}" for g in ("robotiq_gripper_85.xml", "xarm7_gripper.xml", "panda_gripper.xml",
                              "meshes/robotiq_85_gripper/", "meshes/xarm7_gripper/", "meshes/panda_gripper/")]
tmp = dest.with_name(dest.name + ".tmp")
shutil.rmtree(tmp, ignore_errors=True)
with zipfile.ZipFile(wheel) as archive:
    for name in archive.namelist():
        rel = name[len(prefix):] if name.startswith(prefix) else None
        if rel and not name.endswith("/") and any(rel.startswith(k) for k in keep):
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(name))
shutil.rmtree(dest, ignore_errors=True)
tmp.rename(dest)
PY
  then
    rm -rf "$wheel_dir"
    fail "could not extract the robot models from $wheel" "the error above says why"
  fi
  rm -rf "$wheel_dir"
  stamp_write robot-assets "$ROBOSUITE_SHA256"
fi

log "ready: virtualenv $VENV, messages in ${install_prefix#"$ROOT"/}"
