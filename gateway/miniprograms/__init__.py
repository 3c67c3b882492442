"""Mini-programs: registration and review, and user login (a one-time code the developer's
backend exchanges for the user's app-scoped ids)."""
