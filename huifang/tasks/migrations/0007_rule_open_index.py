"""The rule dashboard's open tasks of a rule, from an index of the open tasks alone."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0006_analytics_day_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="task",
            index=models.Index(
                condition=models.Q(("status__in", ["open", "in_progress"])),
                fields=["rule", "due_at"],
                name="task_rule_open_idx",
            ),
        ),
    ]
