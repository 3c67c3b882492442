"""Data export: datasets with published schemas, stats, export jobs, incremental sync."""
