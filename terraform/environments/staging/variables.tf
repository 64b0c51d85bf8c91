variable "project_id" {
  type = string
}

variable "region" {
  type = string
}

variable "zones" {
  description = "The region's zones that GKE nodes run in (one workspace ingress NEG each)."
  type        = list(string)
}

variable "domain" {
  type = string
}

variable "source_bucket" {
  type = string
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
  type    = map(map(string))
  default = {}
}

variable "alert_email" {
  type = string
}

variable "billing_account" {
  type = string
}

variable "monthly_budget_units" {
  type = number
}

variable "min_instances_public" {
  type    = number
  default = 0
}

variable "workspace_nodes" {
  type = object({
    machine_type = optional(string, "e2-standard-4")
    min_count    = optional(number, 1)
    max_count    = optional(number, 20)
    disk_size_gb = optional(number, 100)
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
