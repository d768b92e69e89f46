"""Orchestration across apps: the daily cycle and the demo that runs it on a synthetic region."""
