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
listener="${OSCAR_IAC_LISTENER:-$(dirname "$0")/listener.py}"
mkdir -p "$work/spool" "$work/failed"
cat > "$work/.listener.json.tmp"
mv -f "$work/.listener.json.tmp" "$work/listener.json"
status=0
timeout --kill-after=30 "$seconds" python3 "$listener" --config "$work/listener.json" || status=$?
# timeout(1) exits 124 when the run reached its time limit: a normal end of a run.
if [ "$status" -eq 124 ]; then
  status=0
fi
exit "$status"
