"""Errors a user can cause. Each message names the input (file, row, column, key) and the problem."""


class InputError(ValueError):
    """Bad user input: a config key, a table cell, a missing or corrupt file, mismatched ids."""
