"""A small, clean library."""


def add(left: int, right: int) -> int:
    """Return the sum of two integers."""
    return left + right
