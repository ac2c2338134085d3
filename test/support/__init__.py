"""Helpers shared by tests (not fixtures): child processes, synthetic data."""
