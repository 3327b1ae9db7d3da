// A module resolve hook (node:module register) adding the workspace's `source` export condition,
// so @p2pkit/* imports resolve to their TypeScript sources (as `node --conditions=source` would).
export async function resolve(specifier, context, next) {
  return next(specifier, { ...context, conditions: [...new Set([...context.conditions, 'source'])] });
}
