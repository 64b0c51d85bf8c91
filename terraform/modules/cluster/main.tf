# The Kubernetes side: FoundationDB (operator + cluster + backups), the ingress that serves
# *.<workspace_domain> behind the load balancer. The provisioner's rights are in provisioner.tf.

locals {
  fdb_namespace = "fdb"
  fdb_cluster   = "coditect"
  system_pool   = { "coditect.dev/pool" = "system" }
}

resource "kubernetes_namespace_v1" "fdb" {
  metadata {
    name   = local.fdb_namespace
    labels = { "app.kubernetes.io/part-of" = "coditect" }
  }
}

resource "helm_release" "fdb_operator" {
  name       = "fdb-operator"
  namespace  = kubernetes_namespace_v1.fdb.metadata[0].name
  repository = "https://foundationdb.github.io/fdb-kubernetes-operator/"
  chart      = "fdb-operator"
  version    = var.fdb_operator_chart_version
  wait       = true

  # The operator itself runs `fdbbackup start/modify` and `fdbrestore start`, so it reads the
  # same blob-store credentials as the backup agents.
  values = [yamlencode({
    nodeSelector = local.system_pool
    extraEnv     = [{ name = "FDB_BLOB_CREDENTIALS", value = "/var/backup-credentials/credentials" }]
    volumes      = [{ name = "backup-credentials", secret = { secretName = "fdb-backup-credentials" } }]
    volumeMounts = [{ name = "backup-credentials", mountPath = "/var/backup-credentials", readOnly = true }]
  })]
}

# Backup agents write to GCS through its S3-compatible endpoint as this Kubernetes SA, which is
# bound to the fdb-backup Google SA (Workload Identity). The HMAC credentials file lives in the
# Kubernetes secret fdb-backup-credentials, created by the operator (docs/deploy.md).
resource "kubernetes_service_account_v1" "fdb_backup" {
  metadata {
    name      = "fdb-backup"
    namespace = kubernetes_namespace_v1.fdb.metadata[0].name
    annotations = {
      "iam.gke.io/gcp-service-account" = var.fdb_backup_service_account
    }
  }
  automount_service_account_token = false
}

resource "google_service_account_iam_member" "fdb_backup_wi" {
  service_account_id = "projects/${var.project_id}/serviceAccounts/${var.fdb_backup_service_account}"
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${local.fdb_namespace}/fdb-backup]"
}

locals {
  fdb_container_security = {
    allowPrivilegeEscalation = false
    readOnlyRootFilesystem   = true
    capabilities             = { drop = ["ALL"] }
  }

  fdb_cluster_manifest = {
    apiVersion = "apps.foundationdb.org/v1beta2"
    kind       = "FoundationDBCluster"
    metadata   = { name = local.fdb_cluster, namespace = local.fdb_namespace }
    spec = {
      version = var.fdb_version
      databaseConfiguration = {
        redundancy_mode = "double"
        storage_engine  = "ssd-redwood-1"
      }
      processCounts = {
        storage   = var.fdb_storage_processes
        log       = 3
        stateless = -1
      }
      faultDomain = { key = "kubernetes.io/hostname", valueFrom = "spec.nodeName" }
      automationOptions = {
        replacements = { enabled = true }
      }
      imageType = "unified"
      processes = {
        general = {
          volumeClaimTemplate = {
            spec = {
              storageClassName = "premium-rwo"
              resources        = { requests = { storage = "128Gi" } }
            }
          }
          podTemplate = {
            spec = {
              nodeSelector = local.system_pool
              containers = [
                {
                  name            = "foundationdb"
                  resources       = { requests = { cpu = "1", memory = "4Gi" }, limits = { cpu = "2", memory = "8Gi" } }
                  securityContext = local.fdb_container_security
                },
                {
                  name            = "foundationdb-kubernetes-sidecar"
                  resources       = { requests = { cpu = "100m", memory = "128Mi" }, limits = { cpu = "200m", memory = "256Mi" } }
                  securityContext = local.fdb_container_security
                },
              ]
            }
          }
        }
      }
    }
  }

  fdb_backup_manifest = {
    apiVersion = "apps.foundationdb.org/v1beta2"
    kind       = "FoundationDBBackup"
    metadata   = { name = local.fdb_cluster, namespace = local.fdb_namespace }
    spec = {
      version     = var.fdb_version
      clusterName = local.fdb_cluster
      # Continuous backup: a new snapshot every period plus the mutation log in between, so a
      # restore can reach any point after the first snapshot ended (docs/runbooks/).
      snapshotPeriodSeconds = var.fdb_backup_snapshot_period_seconds
      backupState           = "Running"
      agentCount            = 2
      blobStoreConfiguration = {
        accountName   = "storage.googleapis.com"
        bucket        = var.fdb_backup_bucket
        backupName    = local.fdb_cluster
        urlParameters = ["secure_connection=1"]
      }
      podTemplateSpec = {
        spec = {
          serviceAccountName = kubernetes_service_account_v1.fdb_backup.metadata[0].name
          nodeSelector       = local.system_pool
          containers = [{
            name            = "foundationdb"
            env             = [{ name = "FDB_BLOB_CREDENTIALS", value = "/var/backup-credentials/credentials" }]
            resources       = { requests = { cpu = "250m", memory = "256Mi" }, limits = { cpu = "500m", memory = "512Mi" } }
            securityContext = local.fdb_container_security
            volumeMounts    = [{ name = "backup-credentials", mountPath = "/var/backup-credentials", readOnly = true }]
          }]
          volumes = [{ name = "backup-credentials", secret = { secretName = "fdb-backup-credentials" } }]
        }
      }
    }
  }

  # FoundationDB accepts clients from inside its namespace and from the functions' subnet only.
  fdb_network_policy_manifest = {
    apiVersion = "networking.k8s.io/v1"
    kind       = "NetworkPolicy"
    metadata   = { name = "fdb-clients", namespace = local.fdb_namespace }
    spec = {
      podSelector = { matchLabels = { "foundationdb.org/fdb-cluster-name" = local.fdb_cluster } }
      policyTypes = ["Ingress"]
      ingress = [{
        from = [
          { podSelector = {} },
          { ipBlock = { cidr = var.functions_cidr } },
        ]
        ports = [{ protocol = "TCP", port = 4500, endPort = 4599 }]
      }]
    }
  }
}

# Custom resources go through a raw chart: unlike kubernetes_manifest, it needs no CRD at plan
# time, so one apply installs the operator and then the cluster.
resource "helm_release" "fdb_cluster" {
  name       = "fdb-cluster"
  namespace  = kubernetes_namespace_v1.fdb.metadata[0].name
  repository = "https://bedag.github.io/helm-charts/"
  chart      = "raw"
  version    = var.raw_chart_version

  values = [yamlencode({
    resources = [local.fdb_cluster_manifest, local.fdb_backup_manifest, local.fdb_network_policy_manifest]
  })]

  depends_on = [helm_release.fdb_operator]
}

# Workspace hosts: the load balancer sends *.<workspace_domain> to ingress-nginx through a standalone
# NEG (named, so modules/edge finds it); the provisioner creates one Ingress per workspace with
# class "nginx", and its NetworkPolicy admits traffic from this namespace only. TLS ends at the
# load balancer (one wildcard certificate), so the controller must not redirect HTTP to HTTPS.
resource "kubernetes_namespace_v1" "ingress" {
  metadata {
    name   = "ingress-nginx"
    labels = { "app.kubernetes.io/part-of" = "coditect" }
  }
}

locals {
  ingress_log_format = "$remote_addr - $remote_user [$time_local] \"$request_method $uri $server_protocol\" $status $body_bytes_sent \"$http_user_agent\" $request_length $request_time [$proxy_upstream_name] $upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id"
}

resource "helm_release" "workspace_ingress" {
  name       = "ingress-nginx"
  namespace  = kubernetes_namespace_v1.ingress.metadata[0].name
  repository = "https://kubernetes.github.io/ingress-nginx"
  chart      = "ingress-nginx"
  version    = var.ingress_nginx_chart_version

  values = [yamlencode({
    controller = {
      replicaCount = 2
      nodeSelector = local.system_pool
      ingressClassResource = {
        name    = var.workspace_ingress_class
        enabled = true
        default = false
      }
      ingressClass = var.workspace_ingress_class
      config = {
        "ssl-redirect"               = "false"
        "force-ssl-redirect"         = "false"
        "use-forwarded-headers"      = "true"
        "proxy-real-ip-cidr"         = "35.191.0.0/16,130.211.0.0/22"
        "allow-snippet-annotations"  = "false"
        "annotations-risk-level"     = "Critical"
        "proxy-read-timeout"         = "3600"
        "proxy-send-timeout"         = "3600"
        "worker-shutdown-timeout"    = "240s"
        "enable-real-ip"             = "true"
        "hsts"                       = "true"
        "server-tokens"              = "false"
        "ssl-protocols"              = "TLSv1.2 TLSv1.3"
        "use-gzip"                   = "false"
        "compute-full-forwarded-for" = "true"
        # The default format logs "$request", query string included, and a workspace's launch
        # link carries its one-time token in the query: log the path ($uri) only.
        "log-format-upstream" = local.ingress_log_format
      }
      service = {
        type = "ClusterIP"
        annotations = {
          "cloud.google.com/neg" = jsonencode({ exposed_ports = { "80" = { name = var.workspace_neg_name } } })
        }
      }
      admissionWebhooks = { enabled = true }
    }
  })]
}
