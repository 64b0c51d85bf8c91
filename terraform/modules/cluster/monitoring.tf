# Google Managed Prometheus (enabled on the cluster in modules/platform/gke.tf) scrapes every
# workspace sidecar's /metrics (sidecar/metrics.py) on its named "metrics" port. The pods live in
# one namespace per user, so the scrape is cluster-wide (ClusterPodMonitoring), selected by the
# labels the provisioner puts on workspace pods (shared/provisioner/identity.py); each
# namespace's NetworkPolicy admits the collectors (namespace gmp-system) on that port only.
locals {
  sidecar_pod_monitoring_manifest = {
    apiVersion = "monitoring.googleapis.com/v1"
    kind       = "ClusterPodMonitoring"
    metadata = {
      name   = "coditect-sidecars"
      labels = { "app.kubernetes.io/part-of" = "coditect" }
    }
    spec = {
      selector = {
        matchLabels      = { "app.kubernetes.io/managed-by" = "coditect-provisioner" }
        matchExpressions = [{ key = "coditect.dev/workspace", operator = "Exists" }]
      }
      endpoints = [{ port = "metrics", path = "/metrics", interval = "30s" }]
      # Per-pod series are kept apart by namespace (the user) and pod (the workspace).
      targetLabels = { metadata = ["namespace", "pod"] }
    }
  }
}

resource "helm_release" "sidecar_monitoring" {
  name       = "coditect-sidecar-monitoring"
  namespace  = "gmp-public"
  repository = "https://bedag.github.io/helm-charts/"
  chart      = "raw"
  version    = var.raw_chart_version

  values = [yamlencode({
    resources = [local.sidecar_pod_monitoring_manifest]
  })]
}
