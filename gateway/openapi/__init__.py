"""The OpenAPI document of the gateway, built from the route plans it serves."""
