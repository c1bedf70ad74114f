"""Alembic environment: migrations run on the engine the gateway hands over (``gateway.db``)."""

from alembic import context

from gateway.audit import models as _audit_models  # noqa: F401 - register tables
from gateway.console import models as _console_models  # noqa: F401 - register tables
from gateway.customers import models as _customer_models  # noqa: F401 - register tables
from gateway.db import Base
from gateway.designations import models as _designation_models  # noqa: F401 - register tables
from gateway.oauth import models as _oauth_models  # noqa: F401 - register tables
from gateway.partners import models as _partner_models  # noqa: F401 - register tables

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
