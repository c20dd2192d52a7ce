"""What the gateway, the services and the worker share to be observed the same way: one JSON log
shape, one request-id context, and one reading of the standard OTEL_* variables."""
