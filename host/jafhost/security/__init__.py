"""Permissions, the policy compiled from grants, the in-process guard and the worker sandbox."""
