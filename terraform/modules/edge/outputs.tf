output "ip_address" {
  description = "Point <domain> and *.<workspace_domain> (A records) here."
  value       = google_compute_global_address.edge.address
}

output "dns_authorization_records" {
  description = "CNAME records that prove domain ownership to Certificate Manager."
  value = {
    for k, auth in {
      origin     = google_certificate_manager_dns_authorization.origin
      workspaces = google_certificate_manager_dns_authorization.workspaces
    } : k => auth.dns_resource_record[0]
  }
}

output "dns_records" {
  description = "The A records to create: the app's host and the workspaces' wildcard, in their own zones."
  value = {
    app        = { name = "${var.domain}.", type = "A", data = google_compute_global_address.edge.address }
    workspaces = { name = "${local.workspace_host}.", type = "A", data = google_compute_global_address.edge.address }
  }
}

output "app_bucket" {
  description = "The web app's bucket (cloudbuild.yaml's web-upload writes web/dist into it)."
  value       = google_storage_bucket.app.name
}
