"""Settings for the whole suite."""

from __future__ import annotations

from hypothesis import settings

from tests.postgres_cluster import pg_database, postgres_url
from tests.s3_server import s3_bucket, s3_endpoint, s3_settings

# Fixtures of the PostgreSQL and S3 suites, for every test below this folder.
__all__ = ["pg_database", "postgres_url", "s3_bucket", "s3_endpoint", "s3_settings"]

# Property tests check behaviour, not speed: a per-example deadline turns a machine busy
# with other work into a failure (hypothesis's Flaky / DeadlineExceeded). Speed is
# measured in bench/.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")
