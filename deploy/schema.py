"""The version of the JSON documents ``plan`` writes (``--json``): the review (deploy/review.py) and the review of a
plan that preflight stopped (deploy/preflight.py). One number for both, so a reader checks one field."""

SCHEMA_VERSION = 2  # 2: camelCase throughout, stackExists (was created), lists always present
