"""The HTTP layer: Flask blueprints and error rendering only."""
