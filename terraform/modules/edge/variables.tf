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
  description = "The one origin; workspaces are served on *.ws.<domain>."
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
