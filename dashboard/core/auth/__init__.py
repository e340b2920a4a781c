"""Sign-in, roles and access control. Kept import-light: `dashboard.core.store.schema` imports `store` from here."""
