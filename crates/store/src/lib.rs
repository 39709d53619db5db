//! Persistence: call records, recordings index, agents, queues, routes and flows, on SQLite or PostgreSQL.
