"""The real-controller test bed: Karmada v1.18.2 and Cluster API v1.14.2 controllers (built by
``scripts/testenv/``) running against real kube-apiservers, for the end-to-end and chaos tests."""
