"""Tuning method defaults on a validation slice of the forget set (never on the test splits).

``validation.py`` defines the slice and the proxy metrics, ``spaces.py`` the search space of each
method, ``search.py`` the resumable grid search (``salmubench tune``). See docs/tuning.md.
"""
