# Alerts: function error rate, provisioning failures, dead-letter backlog; and a budget.

resource "google_monitoring_notification_channel" "email" {
  project      = var.project_id
  display_name = "Coditect on-call (${var.environment})"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }
}

resource "google_monitoring_alert_policy" "function_errors" {
  project               = var.project_id
  display_name          = "Coditect ${var.environment}: function 5xx rate above 5%"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  conditions {
    display_name = "5xx share of requests, per function, over 5 minutes"
    condition_prometheus_query_language {
      query               = <<-PROMQL
        sum by (service_name) (rate(run_googleapis_com:request_count{monitored_resource="cloud_run_revision",response_code_class="5xx"}[5m]))
        /
        sum by (service_name) (rate(run_googleapis_com:request_count{monitored_resource="cloud_run_revision"}[5m]))
        > 0.05
      PROMQL
      duration            = "300s"
      evaluation_interval = "60s"
    }
  }

  documentation {
    content   = "A Coditect function answers more than 5% of its requests with a 5xx. Check its logs in Cloud Logging (resource.labels.service_name)."
    mime_type = "text/markdown"
  }
}

# The provisioner logs every failed convergence step at ERROR; messages that keep failing also end
# in the dead-letter topic (next alert).
resource "google_logging_metric" "provisioning_failures" {
  project = var.project_id
  name    = "coditect/provisioning_failures"
  filter  = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"provisioner\" AND severity>=ERROR"
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }
}

resource "google_monitoring_alert_policy" "provisioning_failures" {
  project               = var.project_id
  display_name          = "Coditect ${var.environment}: workspace provisioning failures"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  conditions {
    display_name = "provisioner errors over 10 minutes"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.provisioning_failures.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 5
      duration        = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    content   = "The provisioner failed to converge workspaces more than 5 times in 10 minutes. Look at its ERROR logs and the workspaces' progress in the API."
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "dead_letters" {
  project               = var.project_id
  display_name          = "Coditect ${var.environment}: reconcile messages dead-lettered"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  conditions {
    display_name = "undelivered messages on the dead-letter hold subscriptions"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=monitoring.regex.full_match(\".*-dead-letter-hold\")"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    content   = "Messages exhausted their delivery attempts. Inspect them with `gcloud pubsub subscriptions pull workspace-reconcile-dead-letter-hold`, fix the cause, then republish (docs/deploy.md)."
    mime_type = "text/markdown"
  }
}

resource "google_billing_budget" "monthly" {
  provider        = google-beta
  billing_account = var.billing_account
  display_name    = "Coditect ${var.environment} monthly"

  budget_filter {
    projects = ["projects/${local.project_number}"]
  }

  amount {
    specified_amount {
      units = tostring(var.monthly_budget_units)
    }
  }

  threshold_rules {
    threshold_percent = 0.5
  }
  threshold_rules {
    threshold_percent = 0.9
  }
  threshold_rules {
    threshold_percent = 1.0
  }
  threshold_rules {
    threshold_percent = 1.0
    spend_basis       = "FORECASTED_SPEND"
  }

  all_updates_rule {
    monitoring_notification_channels = [google_monitoring_notification_channel.email.id]
    disable_default_iam_recipients   = false
  }

  depends_on = [google_project_service.apis]
}
