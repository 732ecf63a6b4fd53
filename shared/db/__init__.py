"""The monitoring database: schema, engines, migrations and repositories."""
