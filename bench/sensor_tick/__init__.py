"""Sensor tick time at scale: see __main__.py."""
