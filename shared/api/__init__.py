"""HTTP and event handlers of each Cloud Function; ``functions/<name>/main.py`` calls these."""
