"""How opsloop runs: the production profile, readiness, metrics, workers and singletons.

Kept apart from the centers: it composes them into processes and never holds state
that would break when a second process starts.
"""
