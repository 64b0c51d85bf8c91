variable "project_id" {
  type = string
}

variable "fdb_version" {
  description = "FoundationDB server version; the functions' libfdb_c comes from the same release (functions/bundle.py)."
  type        = string
}

variable "fdb_storage_processes" {
  type    = number
  default = 3
  validation {
    condition     = var.fdb_storage_processes >= 3
    error_message = "double redundancy needs at least 3 storage processes."
  }
}

variable "fdb_operator_chart_version" {
  type    = string
  default = "0.3.0"
}

variable "raw_chart_version" {
  type    = string
  default = "2.0.0"
}

variable "ingress_nginx_chart_version" {
  type    = string
  default = "4.13.3"
}

variable "fdb_backup_bucket" {
  type = string
}

variable "fdb_backup_service_account" {
  type = string
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
  type    = string
  default = "coditect-workspace-ingress"
}

variable "workspace_ingress_class" {
  type    = string
  default = "nginx"
}
