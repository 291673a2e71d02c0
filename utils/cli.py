"""User-facing errors: bad input ends a command with one line that names the file and the fix, and exit code 2."""
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
