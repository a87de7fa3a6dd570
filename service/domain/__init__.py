"""Domain: protection orders, agencies and the per-order monitoring state (no I/O)."""
