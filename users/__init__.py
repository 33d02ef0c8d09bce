"""Local users: identifier normalisation, claim mapping and atomic provisioning."""
