"""Pytest fixtures: filled in by its owner."""
