"""The engagement benchmark: the analytics doc's example queries over a million emails of one
tenant on PostgreSQL, and (once it exists) the rebuild of one tenant-day."""
