#!/usr/bin/env bash
# A stand-in for sbatch in tests on machines without Slurm: runs the submitted script here and
# now (array tasks one after another) with the SLURM_* variables Slurm would set, and prints a
# job id like `sbatch --parsable`. Dependencies hold by construction (jobs run at submission).
# State (next job id, failures) lives in $FAKE_SBATCH_STATE.
set -euo pipefail
state="${FAKE_SBATCH_STATE:?set FAKE_SBATCH_STATE to a folder}"
script=""
array=""
for a in "$@"; do
  case "$a" in
    --array=*) array="${a#--array=}" ;;
    -*) ;;
    *) script="$a" ;;
  esac
done
[ -n "$script" ] || { echo "fake sbatch: no script" >&2; exit 1; }
id=$(( $(cat "$state/next-id" 2>/dev/null || echo 100) + 1 ))
echo "$id" >"$state/next-id"
echo "$id $*" >>"$state/submitted"
[ -n "$array" ] || array=$(sed -n 's/^#SBATCH --array=\([0-9-]*\).*/\1/p' "$script")
log_pattern=$(sed -n 's/^#SBATCH --output=//p' "$script")
run_one() { # $1 = task id or empty
  local log="${log_pattern//%A/$id}"
  log="${log//%a/${1:-0}}"
  log="${log//%j/$id}"
  mkdir -p "$(dirname "$log")"
  if ! env SLURM_JOB_ID="$id" ${1:+SLURM_ARRAY_JOB_ID="$id" SLURM_ARRAY_TASK_ID="$1"} bash "$script" >"$log" 2>&1; then
    echo "$id ${1:-} $log" >>"$state/failures"
  fi
}
if [ -n "$array" ]; then
  IFS=',' read -ra parts <<<"$array"
  for p in "${parts[@]}"; do
    if [[ "$p" == *-* ]]; then
      for ((t = ${p%-*}; t <= ${p#*-}; t++)); do run_one "$t"; done
    else
      run_one "$p"
    fi
  done
else
  run_one ""
fi
echo "$id"
