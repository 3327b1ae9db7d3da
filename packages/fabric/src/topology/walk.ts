/** Reading and rewriting the endpoints of a plain {@link TopologyDescription}. */
import type { DownstreamPortDescription, EndpointDescription, RootPortDescription, TopologyDescription } from './description.ts';

/** Every endpoint in tree order: the root bus, then depth-first below each root port. */
export function endpointsOf(description: TopologyDescription): EndpointDescription[] {
  const out: EndpointDescription[] = [...description.endpoints];
  const below = (port: RootPortDescription | DownstreamPortDescription): void => {
    out.push(...port.endpoints);
    for (const dn of port.switch?.downstream ?? []) below(dn);
  };
  for (const rp of description.rootPorts) below(rp);
  return out;
}

/** A deep copy of `description` with every endpoint replaced by `change(endpoint)` (which gets a copy). */
export function mapEndpoints(
  description: TopologyDescription,
  change: (endpoint: EndpointDescription) => EndpointDescription,
): TopologyDescription {
  const copy = structuredClone(description);
  const rewrite = (list: EndpointDescription[]) => list.splice(0, list.length, ...list.map(change));
  rewrite(copy.endpoints);
  const below = (port: RootPortDescription | DownstreamPortDescription): void => {
    rewrite(port.endpoints);
    for (const dn of port.switch?.downstream ?? []) below(dn);
  };
  for (const rp of copy.rootPorts) below(rp);
  return copy;
}
