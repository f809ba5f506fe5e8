"""Hostile input for the hardening tests, generated at test time (no bombs are committed)."""
