"""End-to-end tests: burstd against a real kube-apiserver where a harness plays Karmada and Cluster API."""
