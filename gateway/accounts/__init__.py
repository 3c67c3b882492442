"""Accounts: users (with the merchant, creator and operator roles), merchants, login."""
