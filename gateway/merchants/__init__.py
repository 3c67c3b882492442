"""Merchant profiles, read by the apps a merchant authorised."""
