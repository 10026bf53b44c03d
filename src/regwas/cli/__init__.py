"""The `regwas` command line: one module per subcommand (add_arguments + run); the entry point
and the parser live in regwas.cli.entry."""

from regwas.cli.entry import SUBCOMMANDS, build_parser, main

__all__ = ["SUBCOMMANDS", "build_parser", "main"]
