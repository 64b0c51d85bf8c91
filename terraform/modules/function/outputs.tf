output "name" {
  value = google_cloudfunctions2_function.this.name
}

output "service" {
  description = "The Cloud Run service behind the function (what invokers and NEGs point at)."
  value       = google_cloudfunctions2_function.this.service_config[0].service
}

output "uri" {
  value = google_cloudfunctions2_function.this.service_config[0].uri
}
