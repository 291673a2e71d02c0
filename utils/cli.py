"""User-facing errors: bad input ends a command with one line that names the file and the fix, and exit code 2."""
import argparse
import functools
import sys


class UserError(Exception):
    """An input problem the user can fix; its message is the whole report."""


def main_guard(main):
    """Wrap a command's main(): a UserError becomes `error: <message>` on stderr and exit status 2."""

    @functools.wraps(main)
    def guarded(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)

    return guarded


def config_parser(description, hint):
    """The argument parser of a stage command: `stage.py <config>` or, as in the original release,
    `--config_json <config>`; a command adds its own options to it."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("config", nargs="?", help=hint)
    parser.add_argument("--config_json", help="the same, in the original release's spelling")
    parser.add_argument("--print-config", action="store_true",
                        help="print the config with every derived key filled in, and exit without running")
    return parser


def parse_config_args(parser, argv):
    """Parse `argv` with a `config_parser`; `args.config` is the config path, given exactly once."""
    args = parser.parse_args(argv)
    if (args.config is None) == (args.config_json is None):
        parser.error("give the config path once: positionally or with --config_json")
    args.config = args.config or args.config_json
    return args


def config_args(description, argv, hint):
    """The arguments of a stage command without options of its own: `config` (the path) and `print_config`."""
    return parse_config_args(config_parser(description, hint), argv)
