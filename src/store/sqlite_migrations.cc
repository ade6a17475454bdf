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

// Management plane (docs/api.md): users, sessions, API tokens, login
// failure counters / lockouts and the audit log. Secrets are never stored:
// passwords as argon2id strings, session and API tokens as SHA-256 hex of
// the token (they are 256-bit random, so a fast hash is enough). Sessions
// and tokens go with their user. CDR searches by number get indexes.
constexpr const char* kMgmt = R"sql(
CREATE TABLE mgmt_user (
  name          TEXT PRIMARY KEY,
  role          TEXT NOT NULL,      -- admin | operator | readonly
  password_hash TEXT NOT NULL,      -- crypto_pwhash_str (argon2id)
  enabled       INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  created_us    INTEGER NOT NULL,
  updated_us    INTEGER NOT NULL,
  password_us   INTEGER NOT NULL    -- last password change
) STRICT;

CREATE TABLE mgmt_session (
  token_hash   TEXT PRIMARY KEY,
  user         TEXT NOT NULL REFERENCES mgmt_user(name) ON DELETE CASCADE,
  source       TEXT NOT NULL,
  created_us   INTEGER NOT NULL,
  expires_us   INTEGER NOT NULL,
  last_used_us INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX mgmt_session_user ON mgmt_session(user);

CREATE TABLE mgmt_token (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  name         TEXT NOT NULL,
  user         TEXT NOT NULL REFERENCES mgmt_user(name) ON DELETE CASCADE,
  role         TEXT NOT NULL,       -- at most the user's role
  token_hash   TEXT NOT NULL UNIQUE,
  created_us   INTEGER NOT NULL,
  expires_us   INTEGER NOT NULL,    -- 0 = never
  last_used_us INTEGER NOT NULL
) STRICT;

CREATE TABLE mgmt_login_failure (
  scope           TEXT NOT NULL,    -- pair | source | account
  account         TEXT NOT NULL,    -- '' for scope source
  source          TEXT NOT NULL,    -- '' for scope account
  failures        INTEGER NOT NULL,
  window_start_us INTEGER NOT NULL,
  locked_until_us INTEGER NOT NULL, -- 0 = not locked
  updated_us      INTEGER NOT NULL,
  PRIMARY KEY (scope, account, source)
) STRICT;

CREATE TABLE mgmt_audit (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  time_us INTEGER NOT NULL,
  actor   TEXT NOT NULL,            -- user name, "local-cli", or the name tried at login
  source  TEXT NOT NULL,            -- ip:port of the client
  action  TEXT NOT NULL,            -- e.g. mapping_gateway.create, login.failed
  target  TEXT NOT NULL,
  result  TEXT NOT NULL,            -- ok | refused | failed ...
  before  TEXT NOT NULL,            -- JSON or ''
  after   TEXT NOT NULL             -- JSON or ''
) STRICT;
CREATE INDEX mgmt_audit_time ON mgmt_audit(time_us);

CREATE INDEX cdr_callee ON cdr(callee);
CREATE INDEX cdr_caller ON cdr(caller);
)sql";

// Append new migrations here, one line each: {"what it does", kVn}.
constexpr SqliteMigration kMigrations[] = {
    {"provisioning, cdr and meta tables", kV1},
    {"management users, sessions, tokens, login failures, audit; cdr number indexes", kMgmt},
};

}  // namespace

std::span<const SqliteMigration> sqliteMigrations() {
  return kMigrations;
}

}  // namespace tollgate::store
