"""SQLite storage: schema and migrations, the group-commit writer, repositories, demo data."""
