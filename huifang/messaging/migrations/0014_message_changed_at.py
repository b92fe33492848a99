"""When a message last changed: the report rollups redo the days of the messages changed since
their last refresh (analytics/rollup.py). Every existing row stays NULL, so the index starts
empty."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("outbox", "0013_analytics_day_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="changed_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="changed at"
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("changed_at__isnull", False)),
                fields=["changed_at"],
                name="message_changed_idx",
            ),
        ),
    ]
