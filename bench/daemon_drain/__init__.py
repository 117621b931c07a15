"""The daemon draining one hourly tick: runs per minute, Dagster's share, sizing figures."""
