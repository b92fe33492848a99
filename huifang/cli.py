"""The ``huifang`` command: every Django management command, plus Huifang's own.

huifang run        migrate, load demo data if empty, start web server + worker
huifang worker     a background worker (add --scheduler on exactly one)
huifang demo       load demo data (--customers N --industry retail|saas|clinic|all --seed S)
huifang token      create / list / revoke API tokens
huifang migrate, createsuperuser, shell … as in Django
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huifang.settings")
    from django.core.management import execute_from_command_line

    args = list(sys.argv if argv is None else ["huifang", *argv])
    args[0] = "huifang"
    execute_from_command_line(args)


if __name__ == "__main__":
    main()
