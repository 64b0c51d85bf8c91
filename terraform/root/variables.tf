variable "environment" {
  description = "Which environment this is (staging or prod): resource names, labels and the state prefix."
  type        = string
  validation {
    condition     = contains(["staging", "prod"], var.environment)
    error_message = "environment must be staging or prod."
  }
}

variable "project_id" {
  description = "GCP project of this environment."
  type        = string
}

variable "region" {
  description = "Region of the functions, the GKE cluster and the network."
  type        = string
}

variable "zones" {
  description = "The region's zones that GKE nodes run in (one workspace ingress NEG each)."
  type        = list(string)
}

variable "domain" {
  description = "The one origin, e.g. app.coditect.dev: the web app, the API and the webhooks."
  type        = string
}

variable "workspace_domain" {
  description = "Workspace hosts are <slug>.<workspace_domain>, e.g. coditect-workspaces.dev: another registrable domain than domain (docs/deploy.md)."
  type        = string
  validation {
    # The registrable domain is taken as the last two labels (the domains used here sit under
    # one-label public suffixes such as .dev): the app's and the workspaces' must differ.
    condition     = regex("[^.]+[.][^.]+$", lower(var.workspace_domain)) != regex("[^.]+[.][^.]+$", lower(var.domain))
    error_message = "workspace_domain must be another registrable domain than domain (neither domain, nor under it, nor beside it): SameSite cookies separate sites, not origins."
  }
}

variable "source_bucket" {
  description = "Bucket holding the function bundles (created in docs/deploy.md, step 1)."
  type        = string
}

variable "function_sources" {
  description = "Written by functions/bundle.py (build/bundles/function_sources.tfvars.json)."
  type        = map(string)
}

variable "stripe_prices" {
  description = "Paid plan => Stripe price ids (comma-separated, newest first)."
  type        = map(string)
}

variable "mail" {
  description = "SMTP submission server of the verification mails (see modules/platform)."
  type = object({
    smtp_host = string
    smtp_port = optional(number, 587)
    smtp_user = string
    from      = string
  })
}

variable "function_env" {
  description = "Extra per-function environment variables (function name => name => value)."
  type        = map(map(string))
  default     = {}
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

variable "fdb_version" {
  description = "FoundationDB release for the cluster and, through bundle.py, the functions' libfdb_c."
  type        = string
}

variable "sidecar_image" {
  description = "Passed by cloudbuild.yaml: <region>-docker.pkg.dev/<project>/coditect/sidecar:<commit>."
  type        = string
}

variable "llm_gateway_image" {
  description = "Passed by cloudbuild.yaml: <region>-docker.pkg.dev/<project>/coditect/llm-gateway:<commit>."
  type        = string
}

variable "theia_image" {
  description = "Passed by cloudbuild.yaml: <region>-docker.pkg.dev/<project>/coditect/ide:<commit>."
  type        = string
}
