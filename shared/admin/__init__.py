"""Operators' tools (``python -m shared.admin``): support look-ups and fixes, dead letters, dumps.

Each module holds one concern's logic; ``__main__`` only parses arguments and prints.
"""
