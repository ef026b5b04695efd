"""Settings for the whole suite."""

from __future__ import annotations

from hypothesis import settings

# Property tests check behaviour, not speed: a per-example deadline turns a machine busy
# with other work into a failure (hypothesis's Flaky / DeadlineExceeded). Speed is
# measured in bench/.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")
