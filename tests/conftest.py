"""Settings for the whole suite."""

from __future__ import annotations

from hypothesis import settings

from tests.postgres_cluster import pg_database, postgres_url

# Fixtures of the PostgreSQL suites, for every test below this folder.
__all__ = ["pg_database", "postgres_url"]

# Property tests check behaviour, not speed: a per-example deadline turns a machine busy
# with other work into a failure (hypothesis's Flaky / DeadlineExceeded). Speed is
# measured in bench/.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")
