// The schema history of the SQLite store (sqlite_migrations.h). Tables are
// STRICT so a wrong type is an error rather than a silently stored string.
// Timestamps are INTEGER microseconds since the Unix epoch (UTC), like Cdr.
#include "store/sqlite_migrations.h"

namespace tollgate::store {
namespace {

// Version 1: provisioning (mapping and routing gateways), CDRs and meta.
//
// Child rows (addresses, prefixes) keep their list order in `position` and go
// away with their gateway (ON DELETE CASCADE; the store enables foreign_keys).
// cdr.id is AUTOINCREMENT so an id is never reused, even after the newest rows
// are deleted: exporters can remember "everything up to id N" safely. CDRs do
// not reference gateways by foreign key: a CDR is history and outlives the
// gateway it names.
constexpr const char* kV1 = R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value ANY NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO meta(key, value) VALUES ('provisioning_version', 0);

CREATE TABLE mapping_gateway (
  name       TEXT PRIMARY KEY,
  auth       TEXT NOT NULL,  -- authModeName(); no CHECK: a new mode must not need a rebuild
  enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  created_us INTEGER NOT NULL,
  updated_us INTEGER NOT NULL
) STRICT;

CREATE TABLE mapping_gateway_address (
  gateway  TEXT NOT NULL REFERENCES mapping_gateway(name) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  address  TEXT NOT NULL,
  PRIMARY KEY (gateway, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE routing_gateway (
  name         TEXT PRIMARY KEY,
  address      TEXT NOT NULL,
  transport    TEXT NOT NULL,
  priority     INTEGER NOT NULL,
  strip_digits INTEGER NOT NULL,
  add_prefix   TEXT NOT NULL,
  enabled      INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  created_us   INTEGER NOT NULL,
  updated_us   INTEGER NOT NULL
) STRICT;

CREATE TABLE routing_gateway_prefix (
  gateway  TEXT NOT NULL REFERENCES routing_gateway(name) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  prefix   TEXT NOT NULL,
  PRIMARY KEY (gateway, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE cdr (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  call_id         TEXT NOT NULL,
  start_us        INTEGER NOT NULL,
  answer_us       INTEGER NOT NULL,
  end_us          INTEGER NOT NULL,
  caller          TEXT NOT NULL,
  callee          TEXT NOT NULL,
  source_address  TEXT NOT NULL,
  transport       TEXT NOT NULL,
  mapping_gateway TEXT NOT NULL,
  routing_gateway TEXT NOT NULL,
  gateways_tried  TEXT NOT NULL,
  final_code      INTEGER NOT NULL,
  duration_ms     INTEGER NOT NULL,
  hangup          TEXT NOT NULL,
  reason          TEXT NOT NULL
) STRICT;
CREATE INDEX cdr_start_us ON cdr(start_us);
CREATE INDEX cdr_reason ON cdr(reason);
CREATE INDEX cdr_mapping_gateway ON cdr(mapping_gateway);
)sql";

// Bans (the shield's ban list, shared by the running node and `tollgate
// ban`). One row per banned host or prefix, keyed by its canonical text
// ("192.0.2.7", "198.51.100.0/24", "2001:db8::/64"); a re-ban of the same
// address updates the row (level counts the bans within ban_memory).
// Every change that matters to a running node (insert, update, delete)
// stamps the row with the next ban_seq.value, so a node polls one integer
// and then reads only what changed; a delete leaves a tombstone
// (deleted = 1) for the pollers to see, purged later. Hit counts are
// statistics, not policy: updating them does not bump the sequence.
constexpr const char* kBans = R"sql(
CREATE TABLE ban_seq (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  value INTEGER NOT NULL
) STRICT;
INSERT INTO ban_seq(id, value) VALUES (1, 0);
CREATE TABLE ban (
  address    TEXT PRIMARY KEY,
  reason     TEXT NOT NULL,    -- manual | signature | rate | prefix_rate | auth | ...
  detail     TEXT NOT NULL,
  origin     TEXT NOT NULL,    -- auto (a node's checks) | manual (an operator)
  created_us INTEGER NOT NULL,
  expires_us INTEGER NOT NULL, -- 0 = never
  hits       INTEGER NOT NULL,
  level      INTEGER NOT NULL,
  deleted    INTEGER NOT NULL CHECK (deleted IN (0, 1)),
  seq        INTEGER NOT NULL,
  updated_us INTEGER NOT NULL
) STRICT;
CREATE INDEX ban_by_seq ON ban(seq);
)sql";

// Append new migrations here, one line each: {"what it does", kVn}.
constexpr SqliteMigration kMigrations[] = {
    {"provisioning, cdr and meta tables", kV1},
    {"ban table and ban change sequence", kBans},
};

}  // namespace

std::span<const SqliteMigration> sqliteMigrations() {
  return kMigrations;
}

}  // namespace tollgate::store
