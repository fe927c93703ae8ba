"""Campaign tests' apps (a marketing-ready harness), shared with the other campaign tests."""

from tests.support.campaigns import campaign_app, campaign_app_any_db

__all__ = ["campaign_app", "campaign_app_any_db"]
