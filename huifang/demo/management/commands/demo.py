from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from huifang.demo.generator import INDUSTRIES, DemoError, generate


class Command(BaseCommand):
    help = "Load realistic demo customers, staff and 18 months of events."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--customers",
            type=int,
            default=2000,
            help="how many customers (default 2000; 1000000 works)",
        )
        parser.add_argument("--industry", choices=[*INDUSTRIES, "all"], default="all")
        parser.add_argument(
            "--seed", type=int, default=42, help="random seed; the same seed gives the same data"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            stats = generate(
                customers=options["customers"],
                industry=options["industry"],
                seed=options["seed"],
                log=self.stdout.write,
            )
        except DemoError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {stats.customers:,} customers and {stats.events:,} events "
                f"in {stats.seconds:.1f} s."
            )
        )
