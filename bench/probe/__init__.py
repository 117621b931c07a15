"""Benchmark of one connection probe round at 10,000 connections (see __main__)."""
