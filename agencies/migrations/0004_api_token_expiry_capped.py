"""No API token outlives 365 days from its creation (issue 13 M2).

Tokens written before the cap by another path (the node console let an operator give a token a
2030 expiry) are brought back to the cap first, so the constraint can hold for every row.
"""

import datetime

import django.db.models.expressions
from django.conf import settings
from django.db import migrations, models

HARD_MAX = datetime.timedelta(days=365)


def cap_existing_tokens(apps, schema_editor):
    ApiToken = apps.get_model("agencies", "ApiToken")
    ApiToken.objects.filter(expires_at__gt=models.F("created_at") + HARD_MAX).update(
        expires_at=models.F("created_at") + HARD_MAX
    )


class Migration(migrations.Migration):
    dependencies = [
        ("agencies", "0003_node_auditor"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(cap_existing_tokens, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="apitoken",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "expires_at__lte",
                        django.db.models.expressions.CombinedExpression(
                            models.F("created_at"), "+", models.Value(datetime.timedelta(days=365))
                        ),
                    )
                ),
                name="api_token_expiry_capped",
            ),
        ),
    ]
