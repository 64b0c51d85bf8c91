terraform {
  required_version = ">= 1.9"

  # State lives in the bucket the bootstrap step creates, one prefix per environment:
  # terraform init -reconfigure -backend-config=bucket=<bucket> -backend-config=prefix=coditect/<environment>
  backend "gcs" {}

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.25"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 7.25"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.38"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.0"
    }
  }
}
