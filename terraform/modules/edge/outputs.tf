output "ip_address" {
  description = "Point <domain> and *.ws.<domain> (A records) here."
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
