output "ip_address" {
  value = module.edge.ip_address
}

output "dns_authorization_records" {
  value = module.edge.dns_authorization_records
}

output "dns_records" {
  value = module.edge.dns_records
}

output "app_bucket" {
  value = module.edge.app_bucket
}

output "image_repository" {
  value = module.platform.image_repository
}

output "cluster_name" {
  value = module.platform.cluster_name
}

output "cluster_dns_endpoint" {
  value = module.platform.cluster_dns_endpoint
}

output "fdb_cluster_file_configmap" {
  value = module.cluster.fdb_cluster_file_configmap
}
