"""Deployment bundles: `mc package` writes one (model, manifest, standalone entry point, requirements,
Dockerfile, Kubernetes Deployment) checked against a target's budgets; `verify_bundle` re-checks it."""
