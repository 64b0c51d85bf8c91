variable "project_id" {
  description = "GCP project of the platform."
  type        = string
}

variable "environment" {
  description = "staging or prod: names, labels and sizes."
  type        = string
}

variable "region" {
  description = "Region of the functions, the GKE cluster and the network."
  type        = string
  default     = "europe-west1"
}

variable "domain" {
  description = "The one origin, e.g. app.coditect.dev: the app, the API and the sidecars' JWKS and heartbeat URLs."
  type        = string
}

variable "workspace_domain" {
  description = "Workspace hosts are <slug>.<workspace_domain> (another registrable domain than domain; checked at the root)."
  type        = string
}

variable "function_sources" {
  description = "Function name => bundle object in the sources bucket (functions/bundle.py writes this map)."
  type        = map(string)
}

variable "source_bucket" {
  description = "Bucket holding the function bundles (created by the bootstrap step in docs/deploy.md)."
  type        = string
}

variable "alert_email" {
  description = "Where alert policies and the budget send mail."
  type        = string
}

variable "billing_account" {
  description = "Billing account id for the budget alert."
  type        = string
}

variable "monthly_budget_units" {
  description = "Monthly budget in the billing account's currency."
  type        = number
}

variable "min_instances_public" {
  description = "Warm instances for the user-facing functions (0 in staging)."
  type        = number
  default     = 0
}

variable "network_cidrs" {
  description = "Address ranges: GKE nodes, pods and services, the functions' egress subnet and the control plane."
  type = object({
    nodes     = optional(string, "10.10.0.0/20")
    pods      = optional(string, "10.20.0.0/14")
    services  = optional(string, "10.24.0.0/20")
    functions = optional(string, "10.10.16.0/24")
    master    = optional(string, "172.16.0.0/28")
  })
  default = {}
}

variable "workspace_nodes" {
  description = "The autoscaled, tainted node pool the workspace pods run on."
  type = object({
    machine_type = optional(string, "e2-standard-4")
    min_count    = optional(number, 1)
    max_count    = optional(number, 20)
    disk_size_gb = optional(number, 100)
    # Processes (threads included) one pod may run: Theia, language servers, the user's builds.
    pod_pids_limit = optional(number, 4096)
  })
  default = {}
}

variable "system_nodes" {
  description = "The node pool of the platform workloads (FoundationDB, ingress, system pods)."
  type = object({
    machine_type = optional(string, "e2-standard-4")
    count        = optional(number, 1)
  })
  default = {}
}

variable "stripe_prices" {
  description = "Paid plan (shared/plans.py) => its Stripe price ids, comma-separated, newest first."
  type        = map(string)
  validation {
    condition     = alltrue([for ids in values(var.stripe_prices) : length(trimspace(ids)) > 0])
    error_message = "every paid plan needs at least one Stripe price id."
  }
}

variable "mail" {
  description = "The SMTP submission server of the verification mails (STARTTLS; the password is the smtp-password secret)."
  type = object({
    smtp_host = string
    smtp_port = optional(number, 587)
    smtp_user = string
    from      = string
  })
  validation {
    condition     = length(trimspace(var.mail.smtp_host)) > 0 && length(trimspace(var.mail.from)) > 0
    error_message = "mail needs an SMTP host and a From address."
  }
}

variable "function_env" {
  description = "Extra per-function environment variables (function name => name => value)."
  type        = map(map(string))
  default     = {}
}

variable "idle_cleanup_schedule" {
  description = "Cron schedule of the idle-cleanup function (Cloud Scheduler)."
  type        = string
  default     = "*/5 * * * *"
}

variable "workspace_reconcile" {
  description = "Delivery of workspace-reconcile to the provisioner."
  type = object({
    # Equal to PROVISIONER_MAX_ATTEMPTS, which the provisioner reads to know its last attempt.
    max_delivery_attempts = optional(number, 5)
    min_backoff           = optional(string, "10s")
    max_backoff           = optional(string, "600s")
    # Outlasts the provisioner's 540 s timeout, so a slow run is not redelivered meanwhile.
    ack_deadline_seconds = optional(number, 600)
  })
  default = {}
}

variable "sidecar_image" {
  description = "The workspace sidecar image, tagged by commit (cloudbuild.yaml pushes it)."
  type        = string
}

variable "theia_image" {
  description = "The workspace IDE image built from ide/, tagged by commit (cloudbuild.yaml pushes it)."
  type        = string
}

variable "llm_gateway_image" {
  description = "The LLM gateway image built from shared/llm/Dockerfile, tagged by commit (cloudbuild.yaml pushes it)."
  type        = string
}

variable "nat_address_count" {
  description = "Reserved Cloud NAT addresses (64k ports each); modules/edge names each in a Cloud Armor expression, which allows few subexpressions."
  type        = number
  default     = 2
  validation {
    condition     = var.nat_address_count >= 1 && var.nat_address_count <= 3
    error_message = "1 to 3 NAT addresses: Cloud Armor expressions allow at most 5 subexpressions."
  }
}

variable "runbook_base_url" {
  description = "Where docs/runbooks/ is readable by the on-call (each alert's documentation links <this>/<alert>.md)."
  type        = string
  default     = "https://github.com/coditect/coditect/blob/main/docs/runbooks"
}

variable "llm_daily_spend_alert_usd" {
  description = "Alert when the LLM gateway's provider cost over 24 hours exceeds this many US dollars."
  type        = number
  default     = 200
}
