"""Authorizations: a merchant's, creator's or user's consent to an app, as a resource."""
