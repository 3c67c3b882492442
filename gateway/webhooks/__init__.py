"""Webhooks: endpoints partners register, and signed, retried deliveries of their events."""
