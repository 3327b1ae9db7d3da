/**
 * The device side of a harness, shared by the in-process harness and the worker-thread one: the
 * controller options a harness serves (defaults, image paths in its directory) and what its log
 * says about guest and device errors.
 */

import { join } from 'node:path';
import type { RecordingLogger } from '@p2pkit/base';
import type { NvmeOptions } from '../endpoint.ts';
import type { NamespaceOptions } from '../options.ts';

/** What a harness serves: {@link NvmeOptions} with every field optional and image and PMR paths defaulting to files in the harness directory. */
export interface NvmeHarnessDeviceOptions extends Partial<Omit<NvmeOptions, 'namespaces' | 'pmr'>> {
  /** Namespaces; `path` defaults to `<directory>/ns<n>.raw`. Default: one 8 MiB namespace of 512-byte blocks. */
  namespaces?: (Omit<NamespaceOptions, 'path'> & { path?: string })[];
  /** Namespace Management with new images created in `directory`. */
  namespaceManagement?: boolean;
  /** A PMR in BAR4 backed by `path` (default `<directory>/pmr.bin`). */
  pmr?: { size: number; path?: string };
}

/** The {@link NvmeOptions} a harness serves: serial TEST0001, images and the PMR file in `directory` unless given. */
export function harnessNvmeOptions(directory: string, options: NvmeHarnessDeviceOptions): NvmeOptions {
  const { namespaces, namespaceManagement, pmr, ...endpointOptions } = options;
  return {
    serial: 'TEST0001',
    namespaces: (namespaces ?? [{ sizeBytes: 8 << 20 }]).map((ns, i) => ({ ...ns, path: ns.path ?? join(directory, `ns${i + 1}.raw`) })),
    ...(namespaceManagement ? { namespaceDirectory: directory } : {}),
    ...(pmr ? { pmr: { path: pmr.path ?? join(directory, 'pmr.bin'), size: pmr.size } } : {}),
    ...endpointOptions,
  };
}

/** A guest error the controller reported (the `<endpoint name>: nvme: ` prefix removed). */
export interface GuestErrorEntry {
  message: string;
  detail?: Record<string, unknown>;
}

/** The guest errors in a harness's log. */
export function guestErrorsIn(log: RecordingLogger): GuestErrorEntry[] {
  return log.entries
    .filter((e) => e.channel === 'guest')
    .map((e) => ({ message: e.message.replace(/^[^:]*: nvme: /, ''), ...(e.detail ? { detail: e.detail } : {}) }));
}

/** The device errors in a harness's log. */
export function deviceErrorsIn(log: RecordingLogger): string[] {
  return log.entries.filter((e) => e.channel === 'device').map((e) => e.message);
}
