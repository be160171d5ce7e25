"""Estimation: least squares, the profiled deviance, its optimisation and what follows.

Nothing in this package knows about display.
"""
