"""The holiday calendar's days now belong to the organisation (organisation 0002 took the
table over); only the engine's idea of the model goes."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("engine", "0006_rule_dashboard_index"),
        ("organisation", "0002_calendarday"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="CalendarDay")],
            database_operations=[],
        ),
    ]
