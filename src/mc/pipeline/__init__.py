"""The real-time meta pipeline (from the seed): perception, recursive awareness, confidence, introspection, integration."""
