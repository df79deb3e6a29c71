"""Placeholder until this command lands."""


def register(groups) -> None:
    """Adds no command yet."""
