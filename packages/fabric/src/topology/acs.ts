/**
 * Access Control Services settings of a port (PCIe Base 6.0 §6.12, ACS Control Register §7.7.8.3).
 *
 * The routing model acts on the redirect bits: P2P Request Redirect and Egress Control redirect
 * peer requests entering a downstream port up to the root complex; P2P Completion Redirect does the
 * same for peer completions. Source Validation and Upstream Forwarding are kept and reported (the
 * kernel's p2pdma check looks at them) but do not change paths: the model has no spoofed requester IDs
 * and the root complex always forwards redirected traffic.
 */

/** ACS control bits the fabric models. All default to off (Linux enables them only for an IOMMU). */
export interface AcsSettings {
  /** SV: validate the requester's bus number in upstream requests. */
  sourceValidation: boolean;
  /** RR: redirect peer-to-peer memory requests to the upstream port. */
  requestRedirect: boolean;
  /** CR: redirect peer-to-peer completions to the upstream port. */
  completionRedirect: boolean;
  /** UF: forward upstream requests and completions that were redirected. */
  upstreamForwarding: boolean;
  /** EC: egress control; modelled as "redirect every peer request" (no per-port vector). */
  egressControl: boolean;
  /** DT: direct translated P2P (ATS-translated requests go direct even with RR). */
  directTranslated: boolean;
}

/** All ACS controls off: peers below one switch talk directly. */
export const ACS_OFF: Readonly<AcsSettings> = Object.freeze({
  sourceValidation: false,
  requestRedirect: false,
  completionRedirect: false,
  upstreamForwarding: false,
  egressControl: false,
  directTranslated: false,
});

/** Builds ACS settings from a partial description (missing bits are off). */
export function acs(settings: Partial<AcsSettings> = {}): AcsSettings {
  return { ...ACS_OFF, ...settings };
}

/**
 * What Linux's `pci_std_enable_acs` sets when an IOMMU is active: SV, RR, CR and UF.
 * With this on a switch downstream port, peer traffic goes through the root complex.
 */
export function acsRedirect(extra: Partial<AcsSettings> = {}): AcsSettings {
  return acs({ sourceValidation: true, requestRedirect: true, completionRedirect: true, upstreamForwarding: true, ...extra });
}

/** Whether peer requests entering this port are redirected upstream (RR or EC). */
export function redirectsRequests(s: AcsSettings): boolean {
  return s.requestRedirect || s.egressControl;
}

/** Whether peer completions entering this port are redirected upstream (CR or EC). */
export function redirectsCompletions(s: AcsSettings): boolean {
  return s.completionRedirect || s.egressControl;
}

/** Short flag list for tables and reasons, e.g. `SV RR CR UF` or `-`. */
export function describeAcs(s: AcsSettings): string {
  const bits: string[] = [];
  if (s.sourceValidation) bits.push('SV');
  if (s.requestRedirect) bits.push('RR');
  if (s.completionRedirect) bits.push('CR');
  if (s.upstreamForwarding) bits.push('UF');
  if (s.egressControl) bits.push('EC');
  if (s.directTranslated) bits.push('DT');
  return bits.length > 0 ? bits.join(' ') : '-';
}
