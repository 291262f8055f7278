"""Corral's Workspace Manager."""
