variable "project_id" {
  description = "GCP project the cluster runs in."
  type        = string
}

variable "fdb_version" {
  description = "FoundationDB server version; the functions' libfdb_c comes from the same release (functions/bundle.py)."
  type        = string
}

variable "fdb_storage_processes" {
  description = "FoundationDB storage processes (double redundancy needs at least 3)."
  type        = number
  default     = 3
  validation {
    condition     = var.fdb_storage_processes >= 3
    error_message = "double redundancy needs at least 3 storage processes."
  }
}

variable "fdb_operator_chart_version" {
  description = "Helm chart version of the FoundationDB operator."
  type        = string
  default     = "0.3.0"
}

variable "raw_chart_version" {
  description = "Helm chart version of bedag/raw, which applies the FoundationDB custom resources."
  type        = string
  default     = "2.0.0"
}

variable "ingress_nginx_chart_version" {
  description = "Helm chart version of ingress-nginx (the workspace ingress)."
  type        = string
  default     = "4.13.3"
}

variable "fdb_backup_bucket" {
  description = "GCS bucket the FoundationDBBackup writes to."
  type        = string
}

variable "fdb_backup_service_account" {
  description = "Google service account email of the backup agents (Workload Identity)."
  type        = string
}

variable "provisioner_service_account" {
  description = "Google service account email of the provisioner function (a Kubernetes RBAC user)."
  type        = string
}

variable "functions_cidr" {
  description = "The functions' Direct VPC egress subnet: the only outside source FoundationDB accepts."
  type        = string
}

variable "workspace_neg_name" {
  description = "Name of the standalone NEGs GKE creates for the workspace ingress (the load balancer's backend)."
  type        = string
  default     = "coditect-workspace-ingress"
}

variable "workspace_ingress_class" {
  description = "IngressClass of the workspace ingress controller (the provisioner's Ingress objects use it)."
  type        = string
  default     = "nginx"
}

variable "fdb_backup_snapshot_period_seconds" {
  description = "How long one FoundationDB backup snapshot is spread over (the backup schedule); restores reach any point after the first snapshot."
  type        = number
  default     = 3600
  validation {
    condition     = var.fdb_backup_snapshot_period_seconds >= 600 && var.fdb_backup_snapshot_period_seconds <= 86400
    error_message = "Between 10 minutes and a day."
  }
}
