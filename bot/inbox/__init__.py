"""The team inbox in Slack threads: who has a thread, where it stands, held replies."""
