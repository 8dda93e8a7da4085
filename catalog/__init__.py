"""The catalog database: tables, migrations and queries; nothing else touches SQL."""
