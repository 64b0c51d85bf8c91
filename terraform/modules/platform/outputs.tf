output "cluster_name" {
  value = google_container_cluster.this.name
}

output "cluster_location" {
  value = google_container_cluster.this.location
}

output "cluster_dns_endpoint" {
  description = "IAM-authenticated control-plane endpoint for Terraform and kubectl (no IP allowlist)."
  value       = google_container_cluster.this.control_plane_endpoints_config[0].dns_endpoint_config[0].endpoint
}

output "network_id" {
  value = google_compute_network.vpc.id
}

output "http_functions" {
  description = "Public functions: Cloud Run service and the paths the load balancer sends to it."
  value       = { for name, fn in local.http_functions : name => { service = module.function[name].service, paths = fn.paths } }
}

output "provisioner_service_account" {
  value = google_service_account.function["provisioner"].email
}

output "fdb_backup_service_account" {
  value = google_service_account.fdb_backup.email
}

output "fdb_backup_bucket" {
  value = google_storage_bucket.fdb_backups.name
}

output "image_repository" {
  value = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "kms_key" {
  value = google_kms_crypto_key.data.id
}

output "functions_cidr" {
  value = google_compute_subnetwork.functions.ip_cidr_range
}

output "nat_addresses" {
  description = "The Cloud NAT addresses workspace traffic leaves from (the edge's Cloud Armor policy exempts the sidecars' calls from them from the per-address limit)."
  value       = google_compute_address.nat[*].address
}

output "access_log_bucket" {
  description = "Bucket of the storage access logs (the web app's bucket logs here too)."
  value       = google_storage_bucket.access_logs.name
}

output "llm_gateway_service" {
  description = "The LLM gateway's Cloud Run service (the load balancer's /api/llm/v1/* backend)."
  value       = google_cloud_run_v2_service.llm_gateway.name
}
