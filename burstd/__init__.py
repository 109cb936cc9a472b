"""burstd: burst autoscaler for hybrid Kubernetes federated with Karmada."""

__version__ = "0.1.0"
