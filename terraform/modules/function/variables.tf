variable "project_id" {
  description = "GCP project of the function."
  type        = string
}

variable "region" {
  description = "Region of the function."
  type        = string
}

variable "name" {
  description = "The folder under functions/ and the Cloud Run service name."
  type        = string
}

variable "entry_point" {
  description = "The decorated Python function in functions/<name>/main.py."
  type        = string
}

variable "trigger" {
  description = "http (public, behind the load balancer), pubsub (push subscription) or scheduler (HTTP, internal, OIDC)."
  type        = string
  validation {
    condition     = contains(["http", "pubsub", "scheduler"], var.trigger)
    error_message = "trigger must be http, pubsub or scheduler."
  }
}

variable "source_bucket" {
  description = "Bucket holding the function bundles."
  type        = string
}

variable "source_object" {
  description = "The bundle's object name: <name>-<sha256>.zip, so only changed functions redeploy."
  type        = string
}

variable "service_account_email" {
  description = "The function's own runtime service account."
  type        = string
}

variable "build_service_account_id" {
  description = "Full resource id of the service account Cloud Build uses to build the function."
  type        = string
}

variable "resources" {
  description = "Memory, CPU, timeout, concurrency and instance bounds of the function."
  type = object({
    memory        = optional(string, "512Mi")
    cpu           = optional(string, "1")
    timeout       = optional(number, 60)
    concurrency   = optional(number, 40)
    min_instances = optional(number, 0)
    max_instances = optional(number, 20)
  })
  default = {}
}

variable "environment" {
  description = "Plain (non-secret) environment variables."
  type        = map(string)
  default     = {}
}

variable "secret_files" {
  description = "Secret Manager secrets mounted as files: mount path => { secret, file }."
  type = map(object({
    secret = string
    file   = string
  }))
  default = {}
}

variable "network" {
  description = "Direct VPC egress: network and subnetwork self links, and the network tag firewall rules match."
  type = object({
    network    = string
    subnetwork = string
    tag        = string
  })
}

variable "labels" {
  description = "Labels on the function."
  type        = map(string)
  default     = {}
}
