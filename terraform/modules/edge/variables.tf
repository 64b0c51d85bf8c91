variable "project_id" {
  description = "GCP project of the load balancer."
  type        = string
}

variable "region" {
  description = "Region of the functions (their serverless NEGs)."
  type        = string
}

variable "environment" {
  description = "staging or prod: prefixes the load balancer's resource names."
  type        = string
}

variable "domain" {
  description = "The one origin: the app, the API and the web app's bucket, e.g. app.coditect.dev."
  type        = string
}

variable "workspace_domain" {
  description = "Workspace hosts are <slug>.<workspace_domain>: a registrable domain of their own, never the app's site."
  type        = string
  validation {
    # The registrable domain is taken as the last two labels (the domains used here sit under
    # one-label public suffixes such as .dev): the app's and the workspaces' must differ.
    condition     = regex("[^.]+[.][^.]+$", lower(var.workspace_domain)) != regex("[^.]+[.][^.]+$", lower(var.domain))
    error_message = "workspace_domain must be another registrable domain than domain (neither domain, nor under it, nor beside it): SameSite cookies separate sites, not origins."
  }
}

variable "app_bucket_location" {
  description = "Location of the web app's bucket (the CDN serves it worldwide; a region keeps it beside the functions)."
  type        = string
  default     = null
}

variable "access_log_bucket" {
  description = "Bucket that receives the web app bucket's access logs (modules/platform)."
  type        = string
}

variable "http_functions" {
  description = "Function name => { service = Cloud Run service, paths = URL-map paths }."
  type = map(object({
    service = string
    paths   = list(string)
  }))
}

variable "default_function" {
  description = "Serves paths no function claims (it answers a JSON 404)."
  type        = string
  default     = "auth"
}

variable "workspace_neg_name" {
  description = "Name of the standalone NEGs of the workspace ingress (one per zone)."
  type        = string
}

variable "workspace_neg_zones" {
  description = "Zones of the GKE node pools (one standalone NEG per zone)."
  type        = list(string)
}

variable "workspace_egress" {
  description = "Addresses workspace pods reach the load balancer from (the platform's Cloud NAT): their sidecars' calls get their own limits."
  type        = list(string)
  validation {
    condition     = length(var.workspace_egress) >= 1 && length(var.workspace_egress) <= 3
    error_message = "1 to 3 addresses: each is a subexpression of a Cloud Armor rule (at most 5)."
  }
}

variable "heartbeat_limit_per_minute" {
  description = "Heartbeats one workspace credential may send a minute (the sidecar sends about one; retries on 429 and 5xx)."
  type        = number
  default     = 120
}

variable "llm_gateway_service" {
  description = "The LLM gateway's Cloud Run service name (modules/platform): the backend of /api/llm/v1/*."
  type        = string
}
