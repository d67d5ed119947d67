// Dashboard middleware (cookie sessions with transparent refresh) lands here in its own issue.
export type { TokenResponse } from '@evergreen/core'
