"""Trust shared by the gateway and the services: JWT verification against a JWKS, and the internal TLS."""
