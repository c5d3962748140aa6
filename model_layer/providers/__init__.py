"""Model providers behind one Protocol, and the registry/router built from configuration."""
