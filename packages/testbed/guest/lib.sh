# Helpers sourced into every guest job (POSIX sh). Jobs also get:
#   $JOB_IN   input files given by the host (read-only by convention)
#   $JOB_OUT  files written here come back to the host as result.files
#   $JOB_WORK the job's private working directory (guest tmpfs, also the cwd)

# nvme_ctrl_by_serial SERIAL -> controller name (nvme0)
nvme_ctrl_by_serial() {
  for c in /sys/class/nvme/nvme*; do
    [ -e "$c/serial" ] || continue
    if [ "$(tr -d ' ' <"$c/serial")" = "$1" ]; then
      echo "${c##*/}"
      return 0
    fi
  done
  echo "no NVMe controller with serial $1" >&2
  return 1
}

# nvme_bdf_by_serial SERIAL -> PCI address (0000:03:00.0)
nvme_bdf_by_serial() {
  _c=$(nvme_ctrl_by_serial "$1") || return 1
  _d=$(readlink -f "/sys/class/nvme/$_c/device") || return 1
  echo "${_d##*/}"
}

# nvme_ns_by_serial SERIAL [NSID] -> the block device of namespace NSID (default 1), e.g. /dev/nvme0n1.
# Chosen by the namespace's nsid, not by its name: the kernel scans namespaces concurrently, so
# nvme0n1 is not always NSID 1 on a controller with several.
nvme_ns_by_serial() {
  _c=$(nvme_ctrl_by_serial "$1") || return 1
  for _b in /sys/block/nvme*n*; do
    _n=${_b##*/}
    case $_n in nvme*c*) continue ;; esac # a multipath path device, not the namespace
    [ "$(cat "$_b/nsid" 2>/dev/null)" = "${2:-1}" ] || continue
    if [ -e "/sys/class/nvme/$_c/$_n" ] || ls "/sys/block/$_n/multipath" 2>/dev/null | grep -q "^${_c}c"; then
      echo "/dev/$_n"
      return 0
    fi
  done
  echo "no namespace ${2:-1} for controller $_c" >&2
  return 1
}

# p2pmem_dir SERIAL -> /sys/bus/pci/devices/<bdf>/p2pmem
p2pmem_dir() {
  _bdf=$(nvme_bdf_by_serial "$1") || return 1
  echo "/sys/bus/pci/devices/$_bdf/p2pmem"
}

# wait_for PATH [SECONDS] -> succeed once PATH exists
wait_for() {
  _i=0
  while [ ! -e "$1" ]; do
    [ $_i -ge $((${2:-10} * 20)) ] && return 1
    sleep 0.05
    _i=$((_i + 1))
  done
}
