# Alerts, each linking its runbook (docs/runbooks/<name>.md: what it means, how to look, what to
# do; a test checks every alert has one), and the budget. The conditions read the log-based
# metrics of metrics.tf in PromQL (logging_googleapis_com:user_<name>), the platform's own metrics
# (Cloud Run requests, Pub/Sub backlog) where those see more than our code can.

locals {
  metric = "logging_googleapis_com:user_"
}

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
  display_name          = "Coditect ${var.environment}: function 5xx rate above 1%"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  conditions {
    display_name = "5xx share of requests, per function, over 5 minutes"
    condition_prometheus_query_language {
      # The platform's count: it also sees crashes and timeouts that never reach our router.
      query               = <<-PROMQL
        sum by (service_name) (rate(run_googleapis_com:request_count{monitored_resource="cloud_run_revision",response_code_class="5xx"}[5m]))
        /
        sum by (service_name) (rate(run_googleapis_com:request_count{monitored_resource="cloud_run_revision"}[5m]))
        > 0.01
      PROMQL
      duration            = "300s"
      evaluation_interval = "60s"
    }
  }

  documentation {
    content   = "A Coditect function answers more than 1% of its requests with a 5xx. Runbook: ${var.runbook_base_url}/api-errors.md"
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "provisioning_slow" {
  project               = var.project_id
  display_name          = "Coditect ${var.environment}: workspace provisioning p95 above 2 minutes"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  conditions {
    display_name = "p95 of request-to-ready over 30 minutes"
    condition_prometheus_query_language {
      query               = "histogram_quantile(0.95, sum by (le) (rate(${local.metric}coditect_workspace_provisioning_seconds_bucket[30m]))) > 120"
      duration            = "600s"
      evaluation_interval = "60s"
    }
  }

  documentation {
    content   = "Users wait more than 2 minutes for a workspace (95th percentile). Runbook: ${var.runbook_base_url}/provisioning-slow.md"
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "start_failures" {
  project               = var.project_id
  display_name          = "Coditect ${var.environment}: more than 10% of workspace starts fail"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  conditions {
    display_name = "failed starts / all starts over 30 minutes"
    condition_prometheus_query_language {
      query               = <<-PROMQL
        sum(rate(${local.metric}coditect_workspace_start_failures_total[30m]))
        /
        (sum(rate(${local.metric}coditect_workspace_provisioning_seconds_count[30m])) + sum(rate(${local.metric}coditect_workspace_start_failures_total[30m])))
        > 0.1
      PROMQL
      duration            = "300s"
      evaluation_interval = "60s"
    }
  }

  documentation {
    content   = "More than 10% of workspace starts end failed (by reason on the operations dashboard). Runbook: ${var.runbook_base_url}/start-failures.md"
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
    content   = "Messages exhausted their delivery attempts and wait on a dead-letter hold subscription. Runbook: ${var.runbook_base_url}/dead-letters.md"
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "webhook_failures" {
  project               = var.project_id
  display_name          = "Coditect ${var.environment}: Stripe webhook events failing"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  conditions {
    display_name = "webhook events rejected or failed over 15 minutes"
    condition_prometheus_query_language {
      query               = "sum(increase(${local.metric}coditect_webhook_events_total{outcome=~\"error|rejected\"}[15m])) > 3"
      duration            = "0s"
      evaluation_interval = "60s"
    }
  }

  documentation {
    content   = "Stripe webhook events fail (Stripe retries them) or are rejected (bad signature). Runbook: ${var.runbook_base_url}/webhook-failures.md"
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "llm_provider_errors" {
  project               = var.project_id
  display_name          = "Coditect ${var.environment}: LLM provider errors above 5%"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  conditions {
    display_name = "provider errors / LLM requests, per model, over 10 minutes"
    condition_prometheus_query_language {
      query               = <<-PROMQL
        sum by (model) (rate(${local.metric}coditect_llm_requests_total{outcome="provider_error"}[10m]))
        /
        sum by (model) (rate(${local.metric}coditect_llm_requests_total[10m]))
        > 0.05
      PROMQL
      duration            = "300s"
      evaluation_interval = "60s"
    }
  }

  documentation {
    content   = "An LLM provider fails more than 5% of the gateway's requests for a model. Runbook: ${var.runbook_base_url}/llm-provider-errors.md"
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "foundationdb_unavailable" {
  project               = var.project_id
  display_name          = "Coditect ${var.environment}: FoundationDB unavailable"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  conditions {
    display_name = "transactions failing for good over 5 minutes"
    condition_prometheus_query_language {
      # A cluster the functions cannot reach times transactions out (5 s each): a few in five
      # minutes is already more than a healthy cluster ever shows.
      query               = "sum(increase(${local.metric}coditect_store_errors_total[5m])) > 3"
      duration            = "120s"
      evaluation_interval = "60s"
    }
  }

  documentation {
    content   = "The functions' FoundationDB transactions time out or fail for good: the system of record is unreachable or unhealthy. Runbook: ${var.runbook_base_url}/foundationdb-unavailable.md"
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "llm_spend" {
  project               = var.project_id
  display_name          = "Coditect ${var.environment}: LLM spend over budget"
  combiner              = "OR"
  notification_channels = [google_monitoring_notification_channel.email.id]

  conditions {
    display_name = "provider cost of LLM requests over 24 hours"
    condition_prometheus_query_language {
      query               = "sum(increase(${local.metric}coditect_llm_cost_usd_total_sum[24h])) > ${var.llm_daily_spend_alert_usd}"
      duration            = "0s"
      evaluation_interval = "300s"
    }
  }

  documentation {
    content   = "The LLM gateway spent more than ${var.llm_daily_spend_alert_usd} USD at provider prices in 24 hours. Runbook: ${var.runbook_base_url}/budget.md"
    mime_type = "text/markdown"
  }
}

# The project's spend (mail at 50/90/100% and forecast 100%). Budgets carry no documentation:
# the runbook is docs/runbooks/budget.md, with the LLM spend alert above.
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
