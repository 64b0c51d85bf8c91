# Log-based metrics: one per entry of the catalog in shared/metrics.py (log_metrics.json is
# generated from it with `python -m shared.metrics`, and a test keeps the two equal). A function
# records a metric as one structured log line {"metric", "value", "metric_labels"}; counters of
# events count those lines, histograms, gauges and counters of amounts keep their values as
# distributions. In PromQL they read as logging_googleapis_com:user_<name>[_count|_sum|_bucket].

locals {
  log_metrics = { for m in jsondecode(file("${path.module}/log_metrics.json")).metrics : m.name => m }
}

resource "google_logging_metric" "coditect" {
  for_each    = local.log_metrics
  project     = var.project_id
  name        = each.key
  description = each.value.description
  filter      = "resource.type=\"cloud_run_revision\" AND jsonPayload.metric=\"${each.key}\""

  label_extractors = { for label in each.value.labels : label => "EXTRACT(jsonPayload.metric_labels.${label})" }
  value_extractor  = each.value.log_kind == "DISTRIBUTION" ? "EXTRACT(jsonPayload.value)" : null

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = each.value.log_kind
    unit        = each.value.unit

    dynamic "labels" {
      for_each = each.value.labels
      content {
        key        = labels.value
        value_type = "STRING"
      }
    }
  }

  dynamic "bucket_options" {
    for_each = each.value.log_kind == "DISTRIBUTION" ? [each.value.buckets] : []
    content {
      explicit_buckets {
        bounds = bucket_options.value
      }
    }
  }

  depends_on = [google_project_service.apis]
}

# What operators look at first: provisioning, failures, the API, sign-ups, billing, the LLM
# gateway and the sidecars (scraped by Google Managed Prometheus, modules/cluster/monitoring.tf).
resource "google_monitoring_dashboard" "operations" {
  project        = var.project_id
  dashboard_json = file("${path.module}/dashboards/operations.json")

  depends_on = [google_logging_metric.coditect]
}
