"""Hostile and broken input: the damaged corpus, big inputs, properties, secrets."""
