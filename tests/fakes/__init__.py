"""Local stand-ins for the external systems the services talk to (real servers, fake behaviour)."""
