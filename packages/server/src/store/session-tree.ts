/**
 * A recursive CTE `tree(id)`: the sessions `roots` selects (a SQL condition on `sessions`, with
 * the dialect's placeholder) and every session delegated from them, transitively. Both stores'
 * hand-written revocations start from it, so "a revocation reaches every descendant" is written
 * once (docs/architecture.md "The session model").
 */
export const sessionTree = (roots: string): string => `WITH RECURSIVE tree(id) AS (
  SELECT id FROM sessions WHERE ${roots}
  UNION SELECT s.id FROM sessions s JOIN tree ON s.parent_id = tree.id
)`
