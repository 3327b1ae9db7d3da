/** struct sockaddr_un for a filesystem path (x86_64 Linux: 2-byte family + 108-byte path). */
export const SOCKADDR_UN_SIZE = 110;

export function sockaddrUn(path: string): Buffer {
  const encoded = Buffer.from(path, 'utf8');
  if (encoded.length >= SOCKADDR_UN_SIZE - 2) {
    throw new RangeError(`socket path too long (${encoded.length} bytes, max 107): ${path}`);
  }
  const addr = Buffer.alloc(SOCKADDR_UN_SIZE);
  addr.writeUInt16LE(1, 0); // AF_UNIX
  encoded.copy(addr, 2);
  return addr;
}
