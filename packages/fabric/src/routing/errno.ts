/** errno values used in {@link DmaError}s, following the vfio-user convention (Linux numbering). */
export const Errno = {
  EPERM: 1,
  EFAULT: 14,
  EINVAL: 22,
  EIO: 5,
  ENODEV: 19,
} as const;
