"""Developer apps (OAuth clients) and their secrets."""
