output "workspace_neg_name" {
  value = var.workspace_neg_name
}

output "fdb_cluster_file_configmap" {
  description = "Where the operator publishes the cluster file (namespace/name, key cluster-file)."
  value       = "${local.fdb_namespace}/${local.fdb_cluster}-config"
}
