-- Runs once, when the PostgreSQL volume is created: the warehouse gets its own database beside
-- Dagster's (POSTGRES_DB). Same server, separate schemas of concern: the warehouse can move to
-- its own server later by changing TOUCHPOINT_WAREHOUSE_URL only.
CREATE DATABASE touchpoint;
