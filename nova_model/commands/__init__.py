"""The subcommands of ``nova-model`` (``nova_model.cli`` lists and runs them)."""


class UsageError(Exception):
    """Bad input: printed as one line, exit status 2 (as is a ``files.OutputError``, an
    output path that cannot be written)."""
