#!/bin/bash
# Run one benchmark alone on a shared machine: a machine-wide lock (one benchmark at a
# time) and nice -10, so other work started with `nice -n 19` barely disturbs it.
# Usage: bench/alone.sh .venv/bin/python -m bench NAME ARGS...
# nice only works across terminal sessions when the kernel's autogroup scheduling is off
# (with it on, each session gets an equal share whatever its nice): as root,
#   echo 0 > /proc/sys/kernel/sched_autogroup_enabled
if [ "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null)" = "1" ]; then
  echo "[alone] warning: kernel.sched_autogroup_enabled=1 — nice will not keep other sessions' work off this benchmark" >&2
fi
exec 9>/tmp/opsloop-bench.lock
echo "[alone] waiting for the benchmark lock at $(date -u +%H:%M:%S)" >&2
flock 9
echo "[alone] start $(date -u +%H:%M:%S) load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
nice -n -10 "$@"
rc=$?
echo "[alone] end $(date -u +%H:%M:%S) rc=$rc load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exit $rc
