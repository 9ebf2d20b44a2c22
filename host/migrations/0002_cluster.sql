-- binyard metadata on PostgreSQL, version 2: the nodes of a cluster and the leases of
-- background jobs (one node at a time runs each; host/src/cluster/postgres.rs).
CREATE TABLE cluster_nodes (
    id text PRIMARY KEY,
    address text NOT NULL,
    started_at timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL
);
CREATE TABLE cluster_leases (
    job text PRIMARY KEY,
    holder text NOT NULL,
    expires_at timestamptz NOT NULL
);
