-- Switchboard store, SQLite schema. Keep in step with ../postgres/0001_initial.sql:
-- the same tables, columns and meanings; only the type names differ.
-- Times are integer milliseconds since the Unix epoch (UTC); durations are integer
-- milliseconds; flags are 0/1. STRICT makes SQLite enforce the column types.

CREATE TABLE queues (
    id               TEXT    NOT NULL PRIMARY KEY,
    name             TEXT    NOT NULL,
    strategy         TEXT    NOT NULL,
    ring_timeout_ms  INTEGER NOT NULL CHECK (ring_timeout_ms >= 0),
    wrap_up_ms       INTEGER NOT NULL CHECK (wrap_up_ms >= 0),
    max_wait_ms      INTEGER CHECK (max_wait_ms >= 0),
    service_level_ms INTEGER NOT NULL CHECK (service_level_ms >= 0),
    short_abandon_ms INTEGER NOT NULL CHECK (short_abandon_ms >= 0),
    priority         INTEGER NOT NULL,
    record           INTEGER NOT NULL CHECK (record IN (0, 1)),
    origin           TEXT    NOT NULL CHECK (origin IN ('config', 'api')),
    updated_at       INTEGER NOT NULL
) STRICT;

CREATE TABLE queue_skills (
    queue_id TEXT    NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    skill    TEXT    NOT NULL,
    level    INTEGER NOT NULL CHECK (level BETWEEN 1 AND 10),
    PRIMARY KEY (queue_id, skill)
) STRICT;

CREATE TABLE agents (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    sip_user    TEXT    NOT NULL UNIQUE,
    secret_kind TEXT    CHECK (secret_kind IN ('password', 'ha1')),
    password    TEXT,
    ha1_realm   TEXT,
    ha1_md5     TEXT,
    ha1_sha256  TEXT,
    wrap_up_ms  INTEGER CHECK (wrap_up_ms >= 0),
    origin      TEXT    NOT NULL CHECK (origin IN ('config', 'api')),
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE agent_skills (
    agent_id TEXT    NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    skill    TEXT    NOT NULL,
    level    INTEGER NOT NULL CHECK (level BETWEEN 1 AND 10),
    PRIMARY KEY (agent_id, skill)
) STRICT;

-- queue_id is a name, not a foreign key: configuration objects may arrive in any order.
CREATE TABLE agent_queues (
    agent_id TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    queue_id TEXT NOT NULL,
    PRIMARY KEY (agent_id, queue_id)
) STRICT;

CREATE TABLE routes (
    number     TEXT    NOT NULL PRIMARY KEY,
    flow       TEXT    NOT NULL,
    priority   INTEGER NOT NULL CHECK (priority IN (0, 1)),
    origin     TEXT    NOT NULL CHECK (origin IN ('config', 'api')),
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE flows (
    name       TEXT    NOT NULL PRIMARY KEY,
    source     TEXT    NOT NULL,
    origin     TEXT    NOT NULL CHECK (origin IN ('config', 'api')),
    updated_at INTEGER NOT NULL
) STRICT;

-- One call record per contact. queue_id, agent_id, flow and media_handler are names
-- kept as they were at the time, so deleting configuration never touches history.
CREATE TABLE contacts (
    id            TEXT    NOT NULL PRIMARY KEY,
    arrived_at    INTEGER NOT NULL,
    caller        TEXT,
    dialed        TEXT,
    flow          TEXT,
    status        TEXT    NOT NULL CHECK (status IN ('in_progress', 'ended')),
    queue_id      TEXT,
    queued_at     INTEGER,
    agent_id      TEXT,
    answered_at   INTEGER,
    ended_at      INTEGER,
    hangup_by     TEXT    CHECK (hangup_by IN ('customer', 'agent', 'system')),
    end_reason    TEXT,
    abandoned     INTEGER NOT NULL DEFAULT 0 CHECK (abandoned IN (0, 1)),
    disposition   TEXT,
    media_handler TEXT,
    codec         TEXT,
    placement     TEXT    -- bandwidth placement explanation, opaque JSON text
) STRICT;

CREATE INDEX contacts_by_arrival ON contacts (arrived_at, id);
CREATE INDEX contacts_by_queue ON contacts (queue_id, arrived_at);
CREATE INDEX contacts_by_agent ON contacts (agent_id, arrived_at);
CREATE INDEX contacts_in_progress ON contacts (status) WHERE status = 'in_progress';

CREATE TABLE contact_path (
    id         INTEGER NOT NULL PRIMARY KEY,
    contact_id TEXT    NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    state      TEXT    NOT NULL,
    entered_at INTEGER NOT NULL
) STRICT;

CREATE INDEX contact_path_by_contact ON contact_path (contact_id, id);

CREATE TABLE offers (
    id         INTEGER NOT NULL PRIMARY KEY,
    contact_id TEXT    NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    agent_id   TEXT    NOT NULL,
    queue_id   TEXT,
    offered_at INTEGER NOT NULL,
    result     TEXT    CHECK (result IN ('answered', 'no_answer', 'busy', 'declined', 'cancelled')),
    result_at  INTEGER
) STRICT;

CREATE INDEX offers_by_contact ON offers (contact_id, id);

CREATE TABLE recordings (
    id          TEXT    NOT NULL PRIMARY KEY,
    contact_id  TEXT    NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL CHECK (kind IN ('call', 'voicemail')),
    path        TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    duration_ms INTEGER CHECK (duration_ms >= 0),
    channels    INTEGER NOT NULL CHECK (channels > 0),
    sample_rate INTEGER NOT NULL CHECK (sample_rate > 0)
) STRICT;

CREATE INDEX recordings_by_contact ON recordings (contact_id, started_at);
