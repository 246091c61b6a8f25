"""REST API (DRF) under /api/: thin views over catalog.selectors and the services."""
