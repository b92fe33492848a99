"""Covering indexes for the results: PostgreSQL counts a period's responses and answers from
the indexes alone (elsewhere the INCLUDE columns are left out and these are plain indexes)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0004_answer_period"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="answer",
            index=models.Index(
                fields=["version", "submitted_at"],
                include=("question", "number", "choice"),
                name="survey_answer_period",
            ),
        ),
        migrations.AddIndex(
            model_name="response",
            index=models.Index(
                fields=["version", "submitted_at"],
                include=("channel", "rule_id", "team_id", "customer", "csat", "nps", "ces"),
                name="survey_response_figures",
            ),
        ),
    ]
