#!/bin/sh
# Managed by oscar-iac (role nifi). Started by NiFi's ExecuteStreamCommand in each dCache
# process group (flow: tools/oscar_iac/events/nifi_flow.py):
#   stdin: the listener's config (JSON; names of environment variables, never secrets)
#   env:   OSCAR_IAC_WORK_DIR (this source's folder on NiFi's volume),
#          OSCAR_IAC_LISTENER_SECONDS (how long one run lasts),
#          DCACHE_CREDENTIAL (from a sensitive parameter; read by the listener, never logged)
# The listener keeps a checkpoint, so a run that ends (time limit, NiFi stopping the
# group, a crash) is resumed by the next one with Last-Event-ID.
set -eu
umask 077
work="${OSCAR_IAC_WORK_DIR:?OSCAR_IAC_WORK_DIR is not set}"
seconds="${OSCAR_IAC_LISTENER_SECONDS:-600}"
# The listener: a package folder run by python3 (its __main__.py), or a file.
listener="${OSCAR_IAC_LISTENER:-$(dirname "$0")/listener}"
mkdir -p "$work/spool" "$work/failed"
cat > "$work/.listener.json.tmp"
mv -f "$work/.listener.json.tmp" "$work/listener.json"
# In the background with the signals forwarded: when NiFi ends this process (processor
# terminated, NiFi shutting down) the listener gets SIGTERM too (GNU timeout passes it on)
# and stops cleanly instead of running on as an orphan.
# The trap is set before the child starts: a SIGTERM that arrives while it starts is
# remembered and passed on as soon as its pid is known (no window where it is lost).
child=""
signals=0
trap 'signals=$((signals + 1)); if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null || true; fi' TERM INT HUP
# --foreground: GNU timeout then passes a signal to the listener once. Without it, timeout
# sends it to the listener and again to its own process group (coreutils src/timeout.c,
# cleanup()), and a second SIGTERM arriving while Python exits kills it by the signal:
# the run then ends with 143 instead of the listener's clean 0.
timeout --foreground --kill-after=30 "$seconds" python3 "$listener" --config "$work/listener.json" &
child=$!
if [ "$signals" -gt 0 ]; then
  kill -TERM "$child" 2>/dev/null || true
fi
# A trapped signal interrupts `wait` (status 128+n), whether the child still runs or has
# just ended; the shell keeps the child's own status until it is collected, so wait again,
# once for each signal the trap took while waiting (a status > 128 with no new signal is
# the child's own).
seen=$signals
status=0
wait "$child" || status=$?
while [ "$status" -gt 128 ] && [ "$seen" -lt "$signals" ]; do
  seen=$signals
  status=0
  wait "$child" || status=$?
done
# timeout(1) exits 124 when the run reached its time limit: a normal end of a run.
if [ "$status" -eq 124 ]; then
  status=0
fi
exit "$status"
