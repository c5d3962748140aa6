"""Authentication: issued keys per tenant, SigV4 verification, API keys."""
