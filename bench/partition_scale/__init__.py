"""Scale harness for Touchpoint's partition design (architecture issue, part 3).

It measures, in a real Dagster instance on PostgreSQL (dagster-postgres), what the tenant x day
partitioning costs at 1,000 tenants x 2 years and compares alternatives side by side:
the daemon-path schedule tick, the asset page's partition-status GraphQL query, launching a
1-tenant x 30-day backfill, and the run rate and Dagster share of a run's wall time.
Run it with `.venv/bin/python -m bench.partition_scale --help`.
"""
