#!/bin/sh
# p2pkit guest agent (runs as PID 1 in the Debian root after switch_root).
#
# Channel: a virtio-serial port named "p2pkit.ctl" carries one-line commands and replies;
# files travel through the 9p share "p2pkit" mounted at /p2pkit.
#   host -> guest:  RUN <id> <timeout-seconds>   run /p2pkit/jobs/<id>/script.sh
#                   DMESG <id>                   write the kernel log to /p2pkit/dmesg.<id>
#                   POWEROFF                     sync and power off
#   guest -> host:  READY <uptime-seconds>
#                   DONE <id> <exit-code>        (124 = the job hit its timeout)
# Kernel command line knobs: p2pkit.modules=a,b (modprobe before READY), p2pkit.nvmes=N
# (wait for N NVMe namespaces), p2pkit.wait=S (seconds to wait for them).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
cd /

say() { echo "P2PKIT [$(cut -d' ' -f1 /proc/uptime)]: $*"; }
halt_now() {
  sync
  busybox poweroff -f
}
arg() {
  for w in $(cat /proc/cmdline); do
    case $w in "$1="*) echo "${w#*=}" ;; esac
  done
}

say "agent started"
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
busybox hostname p2pkit-guest

modprobe 9pnet_virtio && modprobe 9p || say "FATAL cannot load 9p modules"
mkdir -p /p2pkit
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,cache=none p2pkit /p2pkit; then
  say "FATAL cannot mount the 9p share"
  halt_now
fi

say "share mounted"
for m in $(arg p2pkit.modules | tr ',' ' '); do
  modprobe "$m" || say "modprobe $m failed"
done

want=$(arg p2pkit.nvmes)
if [ -n "$want" ] && [ "$want" -gt 0 ]; then
  limit=$(($(arg p2pkit.wait || true) + 0))
  [ "$limit" -gt 0 ] || limit=30
  i=0
  while [ "$(ls /sys/block 2>/dev/null | grep -c '^nvme')" -lt "$want" ] && [ $i -lt $((limit * 20)) ]; do
    sleep 0.05
    i=$((i + 1))
  done
  say "nvme namespaces: $(ls /sys/block | grep '^nvme' | tr '\n' ' ')"
fi

PORT=
for p in /sys/class/virtio-ports/*; do
  [ "$(cat "$p/name" 2>/dev/null)" = p2pkit.ctl ] && PORT=/dev/${p##*/}
done
if [ -z "$PORT" ]; then
  say "FATAL no virtio port named p2pkit.ctl"
  halt_now
fi
exec 3<>"$PORT"

run_job() {
  jdir=/p2pkit/jobs/$1
  work=/tmp/job-$1
  mkdir -p "$work" "$jdir/out"
  (
    cd "$work" && JOB_IN=$jdir/in JOB_OUT=$jdir/out JOB_WORK=$work \
      timeout -k 2 "$2" sh -c '. /run/p2pkit/lib.sh; . "$1"' job "$jdir/script.sh" \
      >"$jdir/stdout" 2>"$jdir/stderr" </dev/null
  )
  rc=$?
  rm -rf "$work"
  echo "DONE $1 $rc" >&3
}

say "agent ready"
echo "READY $(cut -d' ' -f1 /proc/uptime)" >&3
while read -r cmd id t <&3; do
  case $cmd in
    RUN) run_job "$id" "$t" ;;
    DMESG)
      dmesg >"/p2pkit/dmesg.$id" 2>&1
      echo "DONE $id $?" >&3
      ;;
    POWEROFF)
      halt_now
      ;;
    *) say "unknown command: $cmd" ;;
  esac
done
say "control channel closed"
halt_now
