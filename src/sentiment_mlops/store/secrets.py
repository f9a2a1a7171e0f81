"""Per-installation secrets, made once and shared by every process on the store (a random value per name)."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from sentiment_mlops.store.database import Database
from sentiment_mlops.store.schema import installation_secrets

DIGEST_KEY = "text_digest_key"


class InstallationSecrets(Database):
    """``installation_secret(name)``: the same random value for every caller of this store, made on first use."""

    def installation_secret(self, name: str) -> str:
        """The secret called ``name``; the first caller creates it (insert-or-ignore, then read)."""
        insert = self._insert(installation_secrets).values(name=name, value=secrets.token_hex(32))
        with self._transaction() as connection:
            connection.execute(insert.on_conflict_do_nothing(index_elements=[installation_secrets.c.name]))
            value = connection.execute(select(installation_secrets.c.value)
                                       .where(installation_secrets.c.name == name)).scalar_one()
        return str(value)
