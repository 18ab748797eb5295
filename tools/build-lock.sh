# Sourced by tools/boot and tools/test: one of them at a time per build directory.
# (Two clones have two build directories and never wait for each other.)

# take_build_lock BUILD_DIR WHO: hold BUILD_DIR/.apexvisor.lock until this shell ends (fd 9 is
# inherited by what it execs), or say who holds it and exit 1.
take_build_lock() {
  local dir="$1" who="$2" holder
  mkdir -p "$dir"
  exec 9<>"$dir/.apexvisor.lock"
  if ! flock -n 9; then
    holder="$(cat "$dir/.apexvisor.lock" 2>/dev/null || true)"
    echo "$who: error: $dir is in use by another run (${holder:-unknown}); wait for it to end," \
         "or give this run its own build directory: APEXVISOR_BUILD_DIR=DIR $who" >&2
    exit 1
  fi
  : > "$dir/.apexvisor.lock"
  echo "$who, pid $$, since $(date '+%H:%M:%S')" >&9
}
