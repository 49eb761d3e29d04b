"""Talking to the API: the client and ``classify()``, the per-location rate limiter that
follows the X-RateLimit-* headers, the retry policy, and connecting to a target (a base URL
or the built-in sandbox, the only place that imports :mod:`importer.sandbox`).
"""

from importer.api._associations import fetch_association, find_association, list_associations
from importer.api._client import Client, auth_message, classify
from importer.api._objects import ObjectProperty, ObjectSchema, fetch_object_schema, read_schema
from importer.api._ratelimit import (
    LimiterStats,
    LocationLimiter,
    RateLimiter,
    RateLimits,
    retry_after,
)
from importer.api._retries import Retries, RetryPolicy
from importer.api._target import check_tokens, connect, limiter_for

__all__ = [
    "Client",
    "LimiterStats",
    "LocationLimiter",
    "ObjectProperty",
    "ObjectSchema",
    "RateLimiter",
    "RateLimits",
    "Retries",
    "RetryPolicy",
    "auth_message",
    "check_tokens",
    "classify",
    "connect",
    "fetch_association",
    "fetch_object_schema",
    "find_association",
    "limiter_for",
    "list_associations",
    "read_schema",
    "retry_after",
]
