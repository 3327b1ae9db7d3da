#!/bin/sh
# /init of the p2pkit initramfs (busybox). Loads the modules needed to reach the root disk,
# mounts the Debian root image (/dev/vda, a throw-away snapshot) and switches to it, where
# /run/p2pkit/agent.sh serves jobs. Module files are decompressed on the host; their insmod
# order (dependencies first) is in /modules.order.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "P2PKIT: initramfs reached"

for m in $(cat /modules.order); do
  insmod "/lib/modules/$m" || echo "P2PKIT: insmod $m failed"
done

i=0
while [ ! -b /dev/vda ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
mkdir -p /newroot
if ! mount -t ext4 /dev/vda /newroot; then
  echo "P2PKIT: FATAL cannot mount the root image /dev/vda"
  poweroff -f
fi

mount -t tmpfs -o mode=0755 tmpfs /newroot/run
mkdir -p /newroot/run/p2pkit
cp /p2pkit/* /newroot/run/p2pkit/
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mount --move /dev /newroot/dev
exec switch_root /newroot /bin/sh /run/p2pkit/agent.sh
