from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from huifang.accounts.models import ApiToken, TokenScope


class Command(BaseCommand):
    help = "Create, list or revoke API tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a token and print it once")
        create.add_argument("name")
        create.add_argument(
            "--scope",
            choices=TokenScope.values,
            default=TokenScope.WRITE.value,
            help="read; write (the default: also customers and events); reveal (also full "
            "personal details, audited)",
        )
        sub.add_parser("list", help="list tokens")
        revoke = sub.add_parser("revoke", help="revoke a token by its prefix")
        revoke.add_argument("prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "create":
            _token, secret = ApiToken.issue(name=options["name"], scope=options["scope"])
            self.stdout.write(secret)
            self.stderr.write("Store this token now: it is not shown again.")
        elif action == "list":
            for token in ApiToken.objects.all():
                state = "revoked" if token.is_revoked else "active"
                self.stdout.write(f"{token.prefix}\t{state}\t{token.scope}\t{token.name}")
        else:
            matches = list(ApiToken.objects.filter(prefix=options["prefix"]))
            if len(matches) != 1:
                raise CommandError(f"no single token has the prefix {options['prefix']!r}")
            matches[0].revoke()
            self.stdout.write(f"revoked {matches[0]}")
