/** Documented exit codes of `evergreen` (README "Exit codes"). Scripts rely on them. */
export const EXIT = {
  ok: 0,
  error: 1,
  cancelled: 2,
  authRequired: 4,
  interrupted: 130,
} as const
