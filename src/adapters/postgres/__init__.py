"""The PostgreSQL driver: entries, tokens and the change log in one database."""
