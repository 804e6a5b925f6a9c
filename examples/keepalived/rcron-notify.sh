#!/bin/sh
# keepalived notify script: writes the rcron state file of one cluster.
#   notify "/etc/keepalived/rcron-notify.sh /var/run/rcron/state"
# keepalived appends: TYPE NAME STATE PRIORITY (STATE is MASTER, BACKUP, FAULT or STOP).
# The word goes to a temp file in the same directory and is renamed over the state file, so
# rcron reads either the old word or the new one, never an empty file.
set -eu
state_file=$1
vrrp_state=${4:-}
case "$vrrp_state" in
  MASTER) word=active ;;
  *) word=passive ;;   # BACKUP, FAULT, STOP: never run jobs here
esac
dir=$(dirname "$state_file")
mkdir -p "$dir"
tmp=$(mktemp "$dir/.rcron-state.XXXXXX")
printf '%s\n' "$word" > "$tmp"
chmod 644 "$tmp"
mv -f "$tmp" "$state_file"
