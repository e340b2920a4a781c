"""Sign-in, roles and access control. Kept import-light: `dashboard.store.schema` imports `store` from here."""
