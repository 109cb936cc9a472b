"""The Kubernetes edge: one thin client (the only importer of kubernetes_asyncio), API error classes,
watch caches and the parsers that turn raw objects into model values where they arrive."""
