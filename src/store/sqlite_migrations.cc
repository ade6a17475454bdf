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

// Version 2 (digest authentication, registrar): the credential keys of
// mapping gateways (username and the HA1 digests, never a clear password;
// realm records the sip.domain they were computed for), a carrier's
// outbound credentials and REGISTER setting, the registrar's bindings, and
// the retry limiter's suspensions. Bindings and suspensions are written by
// the running node and read back at start-up, so both survive a restart.
//
// auth_suspension.cleared is set by `tollgate auth suspensions clear`; the
// node lifts the suspension it names and deletes the row. meta
// auth_version moves on every clear, so the node only looks when it moved.
constexpr const char* kV2 = R"sql(
ALTER TABLE mapping_gateway ADD COLUMN username TEXT NOT NULL DEFAULT '';
ALTER TABLE mapping_gateway ADD COLUMN realm TEXT NOT NULL DEFAULT '';
ALTER TABLE mapping_gateway ADD COLUMN ha1_md5 TEXT NOT NULL DEFAULT '';
ALTER TABLE mapping_gateway ADD COLUMN ha1_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE mapping_gateway ADD COLUMN register INTEGER NOT NULL DEFAULT 0
  CHECK (register IN (0, 1));
ALTER TABLE mapping_gateway ADD COLUMN max_contacts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE mapping_gateway ADD COLUMN challenge TEXT NOT NULL DEFAULT '';
ALTER TABLE mapping_gateway ADD COLUMN tls_names TEXT NOT NULL DEFAULT '';
ALTER TABLE mapping_gateway ADD COLUMN digest_algorithms TEXT NOT NULL DEFAULT '';  -- 'MD5,SHA-256'


ALTER TABLE routing_gateway ADD COLUMN auth_username TEXT NOT NULL DEFAULT '';
ALTER TABLE routing_gateway ADD COLUMN auth_password TEXT NOT NULL DEFAULT '';
ALTER TABLE routing_gateway ADD COLUMN register INTEGER NOT NULL DEFAULT 0
  CHECK (register IN (0, 1));
ALTER TABLE routing_gateway ADD COLUMN register_expires INTEGER NOT NULL DEFAULT 3600;

CREATE TABLE registration (
  username      TEXT NOT NULL,     -- the account (password gateway username)
  contact       TEXT NOT NULL,     -- Contact URI as registered
  gateway       TEXT NOT NULL,     -- mapping gateway name (history: no foreign key)
  source        TEXT NOT NULL,     -- observed source "udp:198.51.100.7:5060" (NAT)
  local         TEXT NOT NULL,     -- our listener it came in on, same form
  call_id       TEXT NOT NULL,
  cseq          INTEGER NOT NULL,
  user_agent    TEXT NOT NULL,
  registered_us INTEGER NOT NULL,
  expires_us    INTEGER NOT NULL,
  online        INTEGER NOT NULL CHECK (online IN (0, 1)),
  state_us      INTEGER NOT NULL,  -- when online last changed
  PRIMARY KEY (username, contact)
) STRICT, WITHOUT ROWID;

CREATE TABLE auth_suspension (
  kind     TEXT NOT NULL,     -- 'user_source' | 'source'
  username TEXT NOT NULL,     -- '' for kind 'source'
  source   TEXT NOT NULL,     -- IPv4 address, or the network address of an IPv6 /64
  since_us INTEGER NOT NULL,
  until_us INTEGER NOT NULL,
  offenses INTEGER NOT NULL,
  failures INTEGER NOT NULL,
  cleared  INTEGER NOT NULL DEFAULT 0 CHECK (cleared IN (0, 1)),
  PRIMARY KEY (kind, username, source)
) STRICT, WITHOUT ROWID;
INSERT INTO meta(key, value) VALUES ('auth_version', 0);
)sql";

// Append new migrations here, one line each: {"what it does", kVn}.
constexpr SqliteMigration kMigrations[] = {
    {"provisioning, cdr and meta tables", kV1},
    {"digest credentials, registrations and auth suspensions", kV2},
};

}  // namespace

std::span<const SqliteMigration> sqliteMigrations() {
  return kMigrations;
}

}  // namespace tollgate::store
