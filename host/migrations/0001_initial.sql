-- binyard metadata on PostgreSQL, version 1: the tables of the embedded redb store,
-- one for one, with the same keys. Keys are byte strings (`bytea` sorts bytewise,
-- as redb's keys do), so both stores answer every range and index lookup in the
-- same order. Values are the same JSON documents. The layouts:
--   items          repo \0 parent \0 name            -> Item JSON
--   blobs          sha256                            -> {digests, refs} JSON
--   unreferenced   sha256                               (the garbage collector's work list)
--   sha1_to_sha256 sha1                              -> sha256
--   places         sha256 \0 repo \0 path               (where each blob is used)
--   repos          key                               -> repository configuration JSON
--   records        kind \0 name                      -> record JSON (users, tokens, builds…)
--   stats          repo \0 parent \0 name            -> download statistics JSON
--   counters       repo | \0totals                   -> counters JSON
--   kv             repo \0 key                       -> plugin value
--   search_index   entries of storage/meta_index.rs     (names, properties, times, md5, builds)
--   events         seq                               -> event JSON (the outbox)

CREATE TABLE items (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE blobs (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE unreferenced (k bytea PRIMARY KEY);
CREATE TABLE sha1_to_sha256 (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE places (k bytea PRIMARY KEY);
CREATE TABLE repos (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE records (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE stats (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE counters (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE kv (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE search_index (k bytea PRIMARY KEY);
CREATE TABLE events (seq bigint PRIMARY KEY, body bytea NOT NULL);
