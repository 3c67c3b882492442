"""POI pages: stores and their products, synced by partners, reviewed, found nearby, shown to users."""
