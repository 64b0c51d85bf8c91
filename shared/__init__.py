"""Coditect's shared package: the logic every Cloud Function and the local stack use."""
