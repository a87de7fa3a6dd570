"""Court evidence bundles: export an order's records as one signed zip, verify it without the database."""
