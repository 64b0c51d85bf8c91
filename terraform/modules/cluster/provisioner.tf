# What the provisioner function may do on the cluster. RBAC names the kinds a workspace is made
# of (shared/provisioner/objects.py); RBAC cannot say "only in u-* namespaces" nor "only objects
# carrying our labels" for a cluster-wide grant, so a ValidatingAdmissionPolicy says it for
# every write: whatever a stolen provisioner credential asks, it can neither touch the platform's
# namespaces (fdb, ingress-nginx, kube-system) nor another controller's objects.
#
# Reads: the provisioner reads what it adopts and watches its pods and their events, so it keeps
# get/list/watch on those kinds, except Secrets: it may create, replace and delete the activity
# Secrets it writes, and never read a Secret (admission cannot filter reads).

locals {
  # The label keys and value of shared/provisioner/identity.py (tests/infra checks they match).
  provisioner_labels = {
    managed_by = "app.kubernetes.io/managed-by"
    manager    = "coditect-provisioner"
    user       = "coditect.dev/user"
    tenant     = "coditect.dev/tenant"
  }
  provisioner_namespace_prefix = "u-"
  provisioner_kinds = {
    core       = ["namespaces", "persistentvolumeclaims", "pods", "services", "serviceaccounts", "resourcequotas", "limitranges"]
    networking = ["networkpolicies", "ingresses"]
  }
}

resource "kubernetes_cluster_role_v1" "provisioner" {
  metadata {
    name = "coditect-provisioner"
  }
  rule {
    api_groups = [""]
    resources  = local.provisioner_kinds.core
    verbs      = ["get", "list", "watch", "create", "update", "patch", "delete"]
  }
  # Write-only: no get, list or watch on any Secret anywhere.
  rule {
    api_groups = [""]
    resources  = ["secrets"]
    verbs      = ["create", "update", "delete"]
  }
  rule {
    api_groups = [""]
    resources  = ["events", "pods/log"]
    verbs      = ["get", "list", "watch"]
  }
  rule {
    api_groups = ["networking.k8s.io"]
    resources  = local.provisioner_kinds.networking
    verbs      = ["get", "list", "watch", "create", "update", "patch", "delete"]
  }
}

# GKE maps a Google service account to the RBAC user named by its email.
resource "kubernetes_cluster_role_binding_v1" "provisioner" {
  metadata {
    name = "coditect-provisioner"
  }
  role_ref {
    api_group = "rbac.authorization.k8s.io"
    kind      = "ClusterRole"
    name      = kubernetes_cluster_role_v1.provisioner.metadata[0].name
  }
  subject {
    kind      = "User"
    name      = var.provisioner_service_account
    api_group = "rbac.authorization.k8s.io"
  }
}

# Every create, update and delete the provisioner sends: in a u-* namespace (or of a u-*
# namespace), on an object that carries our labels, and for an update on one that carried them
# already (no adopting someone else's object by relabelling it). The one exception: deleting the
# TLS Secret cert-manager made for a workspace's Ingress (it carries cert-manager's labels, not
# ours), still only in a u-* namespace.
resource "kubernetes_manifest" "provisioner_policy" {
  manifest = {
    apiVersion = "admissionregistration.k8s.io/v1"
    kind       = "ValidatingAdmissionPolicy"
    metadata = {
      name = "coditect-provisioner-scope"
    }
    spec = {
      failurePolicy = "Fail"
      matchConstraints = {
        resourceRules = [
          {
            apiGroups   = [""]
            apiVersions = ["v1"]
            operations  = ["CREATE", "UPDATE", "DELETE"]
            resources   = concat(local.provisioner_kinds.core, ["secrets"])
          },
          {
            apiGroups   = ["networking.k8s.io"]
            apiVersions = ["v1"]
            operations  = ["CREATE", "UPDATE", "DELETE"]
            resources   = local.provisioner_kinds.networking
          },
        ]
      }
      # Only the provisioner's requests; everyone else is left to RBAC alone.
      matchConditions = [
        {
          name       = "is-provisioner"
          expression = "request.userInfo.username == '${var.provisioner_service_account}'"
        },
      ]
      variables = [
        {
          name       = "namespace"
          expression = "request.resource.resource == 'namespaces' ? request.name : request.namespace"
        },
        {
          name       = "target"
          expression = "request.operation == 'DELETE' ? oldObject : object"
        },
        {
          name       = "labels"
          expression = "has(variables.target.metadata.labels) ? variables.target.metadata.labels : {}"
        },
        {
          name       = "oldLabels"
          expression = "request.operation == 'UPDATE' && has(oldObject.metadata.labels) ? oldObject.metadata.labels : {}"
        },
        {
          name       = "ours"
          expression = "'${local.provisioner_labels.managed_by}' in variables.labels && variables.labels['${local.provisioner_labels.managed_by}'] == '${local.provisioner_labels.manager}' && '${local.provisioner_labels.user}' in variables.labels && '${local.provisioner_labels.tenant}' in variables.labels"
        },
        {
          name       = "wasOurs"
          expression = "request.operation != 'UPDATE' || ('${local.provisioner_labels.managed_by}' in variables.oldLabels && variables.oldLabels['${local.provisioner_labels.managed_by}'] == '${local.provisioner_labels.manager}')"
        },
        {
          name       = "certManagerTls"
          expression = "request.operation == 'DELETE' && request.resource.resource == 'secrets' && has(oldObject.type) && oldObject.type == 'kubernetes.io/tls' && has(oldObject.metadata.annotations) && 'cert-manager.io/certificate-name' in oldObject.metadata.annotations"
        },
      ]
      validations = [
        {
          expression = "variables.namespace.startsWith('${local.provisioner_namespace_prefix}')"
          message    = "the provisioner may only act in u-* namespaces"
          reason     = "Forbidden"
        },
        {
          expression = "(variables.ours && variables.wasOurs) || variables.certManagerTls"
          message    = "the provisioner may only write objects labelled as managed by coditect-provisioner with their user and tenant"
          reason     = "Forbidden"
        },
      ]
    }
  }
}

resource "kubernetes_manifest" "provisioner_policy_binding" {
  manifest = {
    apiVersion = "admissionregistration.k8s.io/v1"
    kind       = "ValidatingAdmissionPolicyBinding"
    metadata = {
      name = "coditect-provisioner-scope"
    }
    spec = {
      policyName        = kubernetes_manifest.provisioner_policy.manifest.metadata.name
      validationActions = ["Deny"]
    }
  }
}
