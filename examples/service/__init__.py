"""An order-approval HTTP service that embeds the orchestrate runtime on a SQLite file."""
