"""Kinfolk's REST API v1: base classes, authentication, errors, pagination and the router under /api/v1/."""
