"""Creators' content: videos and live streams, owned by creators, listed by the apps they authorised."""
