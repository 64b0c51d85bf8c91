// The platform's public HTTP contract, as the app reads it.

export type PlanName = "free" | "starter" | "pro";

export interface PlanLimits {
  llm_requests_per_month: number;
  storage_gb: number;
  workspace_hours_per_month: number;
  running_workspaces: number;
}

export interface Plan {
  name: PlanName;
  price_usd_per_month: number;
  limits: PlanLimits;
}

export interface PlansResponse {
  currency: string;
  plans: Plan[];
}

export interface User {
  user_id: string;
  tenant_id: string;
  email: string;
  first_name: string | null;
  last_name: string | null;
  created_at: string;
  email_verified: boolean;
  identities?: string[];
}

export interface Me {
  user: User;
  plan: PlanName;
  license: { plan: string; status: string; updated_at: string | null };
  limits: PlanLimits;
  // Counters of this month (UTC), by metric; a metric nobody has counted yet is absent.
  usage: { period: string } & Partial<Record<string, number | string>>;
}

export interface Tokens {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
}

export type WorkspaceStatus =
  | "pending"
  | "provisioning"
  | "ready"
  | "stopping"
  | "stopped"
  | "starting"
  | "deleting"
  | "deleted"
  | "failed";

export interface ProgressEvent {
  at: string;
  message: string;
}

export interface Workspace {
  workspace_id: string;
  name: string;
  status: WorkspaceStatus;
  desired_state?: "running" | "stopped" | "deleted";
  url: string | null;
  created_at: string;
  last_active: string | null;
  disk_gb?: number;
  progress: ProgressEvent[];
  reason?: string;
  delete_after?: string;
}

export interface Invoice {
  id: string;
  number: string | null;
  status: string | null;
  currency: string;
  amount_due: number;
  amount_paid: number;
  created: string | null;
  period_start: string | null;
  period_end: string | null;
  hosted_invoice_url: string | null;
}

export interface BillingSummary {
  subscription: {
    plan: string;
    status: string;
    grace_until: string | null;
    cancel_at_period_end: boolean;
  };
  invoices: Invoice[];
  next_invoice: { date: string; amount_due: number; currency: string; plan: string } | null;
}

// -- account self-service (/api/auth/sessions, /connections, /tokens) -----------------------------
export interface SignInSession {
  session_id: string;
  method: string;
  created_at: string;
  last_used_at: string;
  client: string;
  client_ip: string;
  expires_at: string;
  current: boolean;
}

export type Provider = "google" | "github";

export interface Connection {
  provider: Provider;
  subject: string;
  email: string | null;
  linked_at: string;
}

export interface Connections {
  connections: Connection[];
  has_password: boolean;
}

export type TokenScope = "read" | "workspaces" | "llm";

export interface ApiToken {
  token_id: string;
  name: string;
  scope: TokenScope;
  prefix: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}

export interface ApiTokenCreated {
  token: ApiToken;
  // Shown this once only.
  secret: string;
}

// -- GET /api/llm/usage ---------------------------------------------------------------------------
export interface LlmTotals {
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

export interface LlmUsage {
  period: string;
  plan: PlanName;
  limit: number;
  used: number;
  remaining: number | null;
  resets_at: string | null;
  by_model: (LlmTotals & { model: string })[];
  by_day: (LlmTotals & { day: string })[];
}
