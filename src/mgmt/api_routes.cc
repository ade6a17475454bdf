// The route table of the management API, its dispatch by path template,
// and the OpenAPI 3.0 document generated from the same table (so the
// document cannot describe a route the server does not have, or miss one;
// docs/openapi.json is a checked-in copy kept equal by a test).
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "call/cdr.h"
#include "common/ascii.h"
#include "common/percent.h"
#include "mgmt/api_internal.h"
#include "mgmt/provisioning_json.h"

namespace tollgate::mgmt {
namespace {

std::vector<std::string> split(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

bool isPlaceholder(const std::string& seg) {
  return seg.size() > 2 && seg.front() == '{' && seg.back() == '}';
}

}  // namespace

const std::vector<Route>& apiRoutes() {
  static const std::vector<Route> routes = [] {
    std::vector<Route> r;
    registerAuthRoutes(r);
    registerProvisioningRoutes(r);
    registerNodeRoutes(r);
    registerPolicyRoutes(r);
    registerSecurityRoutes(r);
    registerConsoleRoutes(r);
    return r;
  }();
  return routes;
}

const Route* matchRoute(const std::string& method, const std::string& path,
                        std::vector<std::string>& params, bool* pathKnown) {
  const std::vector<std::string> segs = split(path);
  *pathKnown = false;
  for (const Route& r : apiRoutes()) {
    const std::vector<std::string> tmpl = split(r.path);
    if (tmpl.size() != segs.size()) continue;
    std::vector<std::string> got;
    bool ok = true;
    for (size_t i = 0; i < tmpl.size() && ok; ++i) {
      if (isPlaceholder(tmpl[i])) {
        got.push_back(percentDecode(segs[i]));
      } else {
        ok = tmpl[i] == segs[i];
      }
    }
    if (!ok) continue;
    *pathKnown = true;
    if (method == r.method) {
      params = std::move(got);
      return &r;
    }
  }
  return nullptr;
}

// --------------------------------------------------------------- OpenAPI

namespace {

// A provisioning resource: its own properties, then the fields of its table
// (admission/provisioning_fields.h); `required` with the table's required
// fields added.
template <typename Record>
Json entrySchema(Json props, Json required) {
  describeProvisioningFields<Record>(props, required);
  return Json{{"type", "object"}, {"required", required}, {"properties", props}};
}

// Component schemas. Field names are the JSON keys of the API.
Json schemas() {
  auto str = [](const char* d = nullptr) {
    Json j{{"type", "string"}};
    if (d) j["description"] = d;
    return j;
  };
  auto integer = [](const char* d = nullptr) {
    Json j{{"type", "integer"}};
    if (d) j["description"] = d;
    return j;
  };
  // A figure that may be unknown (null), which is not 0.
  auto unknownable = [](const char* type) {
    return Json{{"type", type},
                {"nullable", true},
                {"description", "null when rtpengine had no RTCP report for the direction"}};
  };
  auto boolean = [](const char* d = nullptr) {
    Json j{{"type", "boolean"}};
    if (d) j["description"] = d;
    return j;
  };
  auto strArray = [](const char* d) {
    return Json{{"type", "array"}, {"items", {{"type", "string"}}}, {"description", d}};
  };
  auto ref = [](const char* name) {
    return Json{{"$ref", std::string("#/components/schemas/") + name}};
  };
  auto arrayOf = [&](const char* name) { return Json{{"type", "array"}, {"items", ref(name)}}; };
  auto time = [](const char* d) {
    return Json{
        {"type", "string"}, {"format", "date-time"}, {"nullable", true}, {"description", d}};
  };
  Json reasons = Json::array();
  for (size_t i = 0; i < call::kTerminationReasonCount; ++i) {
    reasons.push_back(std::string(call::reasonName(static_cast<call::TerminationReason>(i))));
  }

  Json s;
  s["Error"] = {
      {"type", "object"},
      {"required", {"error", "message"}},
      {"properties",
       {{"error", str("machine-readable code: invalid_field, missing_field, "
                      "unknown_field, not_found, conflict, unauthenticated, "
                      "forbidden, locked, ...")},
        {"field", {{"type", "string"}, {"nullable", true}, {"description", "the offending field"}}},
        {"message", str()}}}};
  s["LoginRequest"] = {{"type", "object"},
                       {"required", {"username", "password"}},
                       {"properties", {{"username", str()}, {"password", str()}}}};
  s["Session"] = {{"type", "object"},
                  {"properties",
                   {{"token", str("bearer token of the session; shown once")},
                    {"expires", time("absolute end of the session")},
                    {"user", str()},
                    {"role", str("admin | operator | readonly")}}}};
  s["ConsoleSession"] = {
      {"type", "object"},
      {"properties",
       {{"user", str()},
        {"role", str("admin | operator | readonly")},
        {"expires", time("end of the session (null for the local token)")},
        {"csrf_token",
         {{"type", "string"},
          {"nullable", true},
          {"description", "send as X-CSRF-Token with every change made with the cookie"}}}}}};
  s["TracePcapRequest"] = {
      {"type", "object"},
      {"required", {"messages"}},
      {"properties",
       {{"messages",
         {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"required", {"time_us", "direction", "transport", "local", "remote", "message"}},
            {"properties",
             {{"time_us", integer("µs since the Unix epoch")},
              {"direction", str("in | out")},
              {"transport", str("udp | tcp | tls")},
              {"local", str("ip:port")},
              {"remote", str("ip:port")},
              {"message", str("the SIP message")}}}}}}}}}};
  s["Whoami"] = {
      {"type", "object"},
      {"properties", {{"user", str()}, {"role", str()}, {"auth", str("session | token | local")}}}};
  s["User"] = {{"type", "object"},
               {"properties",
                {{"name", str()},
                 {"role", str("admin | operator | readonly")},
                 {"enabled", boolean()},
                 {"created", time("")},
                 {"updated", time("")},
                 {"password_changed", time("")}}}};
  s["UserList"] = {{"type", "object"}, {"properties", {{"users", arrayOf("User")}}}};
  s["UserCreate"] = {{"type", "object"},
                     {"required", {"name", "role", "password"}},
                     {"properties",
                      {{"name", str("1-64 of A-Z a-z 0-9 . _ -")},
                       {"role", str("admin | operator | readonly")},
                       {"password", str("checked by the password policy (docs/api.md)")},
                       {"enabled", boolean()}}}};
  s["UserUpdate"] = {{"type", "object"}, {"properties", {{"role", str()}, {"enabled", boolean()}}}};
  s["PasswordChange"] = {
      {"type", "object"},
      {"required", {"password"}},
      {"properties",
       {{"current_password", str("required when changing your own password (API tokens never "
                                 "change passwords)")},
        {"password", str()}}}};
  s["Token"] = {{"type", "object"},
                {"properties",
                 {{"id", integer()},
                  {"name", str()},
                  {"user", str()},
                  {"role", str()},
                  {"created", time("")},
                  {"expires", time("null = never")},
                  {"last_used", time("")},
                  {"token", str("the secret; only in the answer to POST, shown once")}}}};
  s["TokenList"] = {{"type", "object"}, {"properties", {{"tokens", arrayOf("Token")}}}};
  s["TokenCreate"] = {{"type", "object"},
                      {"required", {"name"}},
                      {"properties",
                       {{"name", str("what it is for")},
                        {"role", str("at most your effective role and the user's role "
                                     "(default: the lower of the two)")},
                        {"expires_in", integer("seconds; absent = never (made with a token: "
                                               "at most, and by default, that token's end)")},
                        {"user", str("admin sessions and the local token only: the user the "
                                     "token acts as (default: you)")}}}};
  s["Lockout"] = {{"type", "object"},
                  {"properties",
                   {{"scope", str("pair | source | account")},
                    {"account", str()},
                    {"source", str()},
                    {"failures", integer()},
                    {"window_start", time("")},
                    {"locked_until", time("null = counting, not locked")}}}};
  s["LockoutList"] = {{"type", "object"}, {"properties", {{"lockouts", arrayOf("Lockout")}}}};
  s["AuditEntry"] = {
      {"type", "object"},
      {"properties",
       {{"id", integer()},
        {"time", time("")},
        {"actor", str()},
        {"source", str()},
        {"action", str()},
        {"target", str()},
        {"result", str()},
        {"before", {{"nullable", true}, {"description", "JSON of the resource before"}}},
        {"after", {{"nullable", true}, {"description", "JSON of the resource after"}}}}}};
  s["AuditList"] = {{"type", "object"},
                    {"properties",
                     {{"entries", arrayOf("AuditEntry")},
                      {"next_before_id", {{"type", "integer"}, {"nullable", true}}}}}};
  // Provisioning resources: their own keys, then the fields of their table
  // (admission/provisioning_fields.h).
  Json mappingProps = {
      {"name", str("unique, 1-64 of A-Z a-z 0-9 . _ -")},
      {"auth", str("ip | ip_port | password | tls_cert")},
      {"addresses", strArray("IPs/CIDRs (ip), IP:port (ip_port); for password and tls_cert an "
                             "optional restriction")},
      {"enabled", boolean()},
      {"username", str("password: digest username (also the number that reaches it)")},
      {"password",
       {{"type", "string"},
        {"writeOnly", true},
        {"description", "password: stored as HA1 digests for sip.domain, never shown"}}},
      {"register", boolean()},
      {"max_contacts", integer("with register: bindings at once")},
      {"challenge", str("\"401\" | \"407\" | \"both\" | \"\" (the node's sip.challenge)")},
      {"digest_algorithms", strArray("\"MD5\", \"SHA-256\"; [] = the node's")},
      {"tls_names", strArray("tls_cert: certificate names")}};
  s["MappingGateway"] =
      entrySchema<admission::MappingGateway>(mappingProps, Json::array({"name", "auth"}));
  s["MappingGatewayList"] = {{"type", "object"},
                             {"properties", {{"mapping_gateways", arrayOf("MappingGateway")}}}};
  Json routingProps = {
      {"name", str()},
      {"address", str("IP[:port], [v6]:port")},
      {"transport", str("udp | tcp | tls")},
      {"prefixes", strArray("called-number prefixes; \"\" = default route")},
      {"priority", integer("lower is tried first")},
      {"strip_digits", integer()},
      {"add_prefix", str()},
      {"enabled", boolean()},
      {"auth_username", str("our credentials for the carrier's 401/407")},
      {"auth_password", {{"type", "string"}, {"writeOnly", true}, {"description", "never shown"}}},
      {"register", boolean()},
      {"register_expires", integer("seconds asked for in our REGISTER")}};
  s["RoutingGateway"] = entrySchema<admission::RoutingGateway>(
      routingProps, Json::array({"name", "address", "prefixes", "priority"}));
  s["RoutingGatewayList"] = {{"type", "object"},
                             {"properties", {{"routing_gateways", arrayOf("RoutingGateway")}}}};
  s["Account"] = entrySchema<admission::Account>({{"name", str()}}, Json::array({"name"}));
  s["AccountList"] = {{"type", "object"}, {"properties", {{"accounts", arrayOf("Account")}}}};
  s["FraudRule"] = entrySchema<admission::FraudRule>({{"name", str()}}, Json::array({"name"}));
  s["FraudRuleList"] = {{"type", "object"},
                        {"properties", {{"fraud_rules", arrayOf("FraudRule")}}}};
  s["ProvisioningImport"] = {
      {"type", "object"},
      {"description",
       "a provisioning set as `tollgate import` reads it from a file; entries are upserted by "
       "name"},
      {"properties",
       {{"prune", boolean("also delete the stored entries the set does not name")},
        {"source", str("what the set is (a file name), for the audit log")},
        {"mapping_gateways", arrayOf("MappingGateway")},
        {"routing_gateways", arrayOf("RoutingGateway")},
        {"accounts", arrayOf("Account")},
        {"fraud_rules", arrayOf("FraudRule")}}}};
  s["ProvisioningImported"] = {
      {"type", "object"},
      {"properties",
       {{"added", integer()},
        {"updated", integer()},
        {"unchanged", integer("entries of the set already stored as they are")},
        {"removed", integer("with prune")},
        {"version", integer("provisioning version after the import")},
        {"applied", boolean("the SIP worker runs it (false: it will at its next poll)")}}}};
  s["EntryPatch"] = {{"type", "object"},
                     {"description", "any subset of the entry's fields except name"}};
  s["NumberListSummary"] = {{"type", "object"},
                            {"properties",
                             {{"name", str()},
                              {"kind", str("black | white | system_white")},
                              {"description", str()},
                              {"entries", integer()},
                              {"created", time("")},
                              {"updated", time("")}}}};
  s["NumberListList"] = {{"type", "object"},
                         {"properties", {{"number_lists", arrayOf("NumberListSummary")}}}};
  s["NumberList"] = {{"type", "object"},
                     {"properties",
                      {{"name", str()},
                       {"kind", str("black | white | system_white")},
                       {"description", str()},
                       {"numbers", strArray("patterns: exact, prefix \"4490*\", ? = any digit")},
                       {"added", integer("PATCH: patterns added")},
                       {"removed", integer("PATCH: patterns removed")}}}};
  s["NumberListCreate"] = {{"type", "object"},
                           {"required", {"name", "kind"}},
                           {"properties",
                            {{"name", str("1-64 of A-Z a-z 0-9 . _ -")},
                             {"kind", str("black | white | system_white")},
                             {"description", str("one line")},
                             {"numbers", strArray("initial patterns")}}}};
  s["NumberListPatch"] = {
      {"type", "object"},
      {"properties",
       {{"add", strArray("patterns to add")}, {"remove", strArray("patterns to remove")}}}};
  s["NumberListNumbers"] = {{"type", "object"},
                            {"required", {"numbers"}},
                            {"properties", {{"numbers", strArray("the list's new content")}}}};
  s["BlacklistEntry"] = {{"type", "object"},
                         {"properties",
                          {{"number", str()},
                           {"side", str("caller | callee")},
                           {"rule", str("malicious_caller | malicious_callee | no_answer | "
                                        "caller_concurrent | manual")},
                           {"mode", str("enforce | count-only")},
                           {"gateway", str("mapping gateway of the call that listed it")},
                           {"created", time("")},
                           {"last_hit", time("")},
                           {"expires", time("")},
                           {"hits", integer()},
                           {"cut_calls", boolean()}}}};
  s["BlacklistEntryList"] = {{"type", "object"},
                             {"properties", {{"entries", arrayOf("BlacklistEntry")}}}};
  s["BlacklistAdd"] = {{"type", "object"},
                       {"required", {"number", "side", "expires_in"}},
                       {"properties",
                        {{"number", str("a number, not a pattern")},
                         {"side", str("caller | callee")},
                         {"expires_in", integer("seconds")},
                         {"mode", str("enforce (default) | count-only")},
                         {"cut_calls", boolean()}}}};
  s["BlacklistRemoved"] = {{"type", "object"},
                           {"properties", {{"number", str()}, {"removed", integer()}}}};
  s["BlacklistCleared"] = {{"type", "object"}, {"properties", {{"removed", integer()}}}};
  s["Ban"] = {
      {"type", "object"},
      {"properties",
       {{"address", str("host or CIDR")},
        {"reason", str("manual | signature | rate | prefix_rate | auth | other")},
        {"detail", str()},
        {"origin", str("auto | manual")},
        {"active", boolean()},
        {"created", time("")},
        {"expires", time("null = never")},
        {"hits", integer("packets dropped because of it")},
        {"level", integer("n-th ban within shield.ban_memory")},
        {"trusted_inside", strArray("POST: trusted prefixes inside the ban (stay trusted)")},
        {"trusted_inside_by",
         strArray("POST: whose each of trusted_inside is (\"mapping gateway cust-a\", "
                  "\"shield.trusted\"), in the same order")}}}};
  s["BanList"] = {{"type", "object"}, {"properties", {{"bans", arrayOf("Ban")}}}};
  s["BanAdd"] = {{"type", "object"},
                 {"required", {"address"}},
                 {"properties",
                  {{"address", str("IP or CIDR")},
                   {"duration", integer("seconds; absent = permanent")},
                   {"note", str("why (shown as the detail)")}}}};
  s["BanWhy"] = {{"type", "object"},
                 {"properties",
                  {{"address", str()},
                   {"banned", boolean()},
                   {"trusted", {{"type", "string"}, {"nullable", true}}},
                   {"bans", arrayOf("Ban")}}}};
  s["BanLifted"] = {
      {"type", "object"},
      {"properties",
       {{"address", str()}, {"unbanned", boolean()}, {"suspensions_cleared", integer()}}}};
  s["Suspension"] = {{"type", "object"},
                     {"properties",
                      {{"kind", str("user_source | source")},
                       {"username", str()},
                       {"source", str("IPv4 address or IPv6 /64")},
                       {"since", time("")},
                       {"until", time("")},
                       {"remaining_s", integer()},
                       {"offenses", integer()},
                       {"failures", integer()}}}};
  s["SuspensionList"] = {{"type", "object"},
                         {"properties", {{"suspensions", arrayOf("Suspension")}}}};
  s["SuspensionsCleared"] = {{"type", "object"},
                             {"properties", {{"cleared", integer()}, {"bans_lifted", integer()}}}};
  s["Registration"] = {{"type", "object"},
                       {"properties",
                        {{"username", str()},
                         {"contact", str()},
                         {"gateway", str()},
                         {"transport", str()},
                         {"source", str("observed source (NAT)")},
                         {"local", str()},
                         {"user_agent", str()},
                         {"registered", time("")},
                         {"expires", time("")},
                         {"online", boolean()},
                         {"state_since", time("")}}}};
  s["RegistrationList"] = {{"type", "object"},
                           {"properties", {{"registrations", arrayOf("Registration")}}}};
  s["Unregistered"] = {{"type", "object"},
                       {"properties", {{"username", str()}, {"removed", integer()}}}};
  s["Carrier"] = {{"type", "object"},
                  {"properties",
                   {{"name", str()},
                    {"address", str()},
                    {"monitored", boolean()},
                    {"in_rotation", boolean()},
                    {"missed_in_a_row", integer()},
                    {"probes", integer()}}}};
  s["CarrierList"] = {{"type", "object"}, {"properties", {{"carriers", arrayOf("Carrier")}}}};
  s["ClusterNode"] = {{"type", "object"},
                      {"properties",
                       {{"id", str("cluster.node_id")},
                        {"sip", str("ip:port peers send SIP to")},
                        {"started", time("")},
                        {"seen", time("its last heartbeat (Redis time)")},
                        {"seen_ago_ms", integer()},
                        {"calls", integer("calls in progress at its last heartbeat")},
                        {"self", boolean("this node")}}}};
  s["Cluster"] = {
      {"type", "object"},
      {"required", {"enabled"}},
      {"properties",
       {{"enabled", boolean("false (and nothing else) without [cluster]")},
        {"node_id", str()},
        {"shared", boolean("Redis up: shared state authoritative")},
        {"down_rule", str("local_share | refuse")},
        {"heartbeat_ms", integer()},
        {"node_ttl_ms", integer()},
        {"node_id_conflict",
         boolean("another live node (another SIP address) holds this node_id: this node is not "
                 "in the node set")},
        {"redis",
         {{"type", "object"},
          {"properties",
           {{"up", boolean()},
            {"via", str("direct | sentinel")},
            {"master_name", {{"type", "string"}, {"nullable", true}}},
            {"address", {{"type", "string"}, {"nullable", true}, {"description", "ip:port"}}},
            {"role", str("master | replica | none")},
            {"latency_ms", {{"type", "number"}, {"description", "last PING round trip"}}},
            {"connects", integer()},
            {"downs", integer()},
            {"failovers", integer()},
            {"commands", integer()},
            {"timeouts", integer()},
            {"errors", integer()},
            {"refused", integer("commands not sent: link down")},
            {"pending", integer()}}}}},
        {"nodes", arrayOf("ClusterNode")}}}};
  s["GatewayPatch"] = {{"type", "object"},
                       {"description", "any subset of the gateway's fields except name"}};
  s["LiveCall"] = {{"type", "object"},
                   {"properties",
                    {{"id", integer("handle for DELETE /api/v1/calls/{id}")},
                     {"call_id", str()},
                     {"carrier_call_id", str()},
                     {"caller", str()},
                     {"callee", str()},
                     {"caller_name", str("From display name (printable, at most 128 bytes)")},
                     {"user_agent", str("caller's User-Agent (printable, at most 128 bytes)")},
                     {"source", str()},
                     {"transport", str()},
                     {"mapping_gateway", str()},
                     {"routing_gateway", str()},
                     {"state", str("routing | early | answered | confirmed")},
                     {"start", time("")},
                     {"answer", time("")},
                     {"duration_ms", integer()},
                     {"max_duration_s", integer("call policy; 0 = unlimited")}}}};
  s["LiveCallList"] = {{"type", "object"},
                       {"properties", {{"calls", arrayOf("LiveCall")}, {"total", integer()}}}};
  s["CallEnded"] = {{"type", "object"}, {"properties", {{"id", integer()}, {"ended", boolean()}}}};
  s["Cdr"] = {
      {"type", "object"},
      {"description", "fields as in docs/cdr.md"},
      {"properties",
       {{"id", integer()},
        {"call_id", str()},
        {"start", time("")},
        {"answer", time("")},
        {"end", time("")},
        {"caller", str()},
        {"callee", str()},
        {"source", str()},
        {"transport", str()},
        {"mapping_gateway", str()},
        {"routing_gateway", str()},
        {"gateways_tried", strArray("in order")},
        {"final_code", integer()},
        {"duration_ms", integer()},
        {"hangup", str()},
        {"reason", {{"type", "string"}, {"enum", reasons}}},
        {"caller_raw", str("From user part as received (escaped); caller is canonical")},
        {"callee_raw", str("Request-URI user part as received (escaped); callee is canonical")},
        {"media",
         {{"type", "object"},
          {"nullable", true},
          {"description",
           "relayed calls (docs/media.md): media figures per direction as rtpengine counted "
           "them; null when the media passed through"},
          {"properties",
           {{"caller_packets", integer()},
            {"caller_bytes", integer()},
            {"caller_loss_pct", unknownable("number")},
            {"caller_jitter_ms", unknownable("integer")},
            {"callee_packets", integer()},
            {"callee_bytes", integer()},
            {"callee_loss_pct", unknownable("number")},
            {"callee_jitter_ms", unknownable("integer")}}}}}}}};
  s["CdrList"] = {{"type", "object"},
                  {"properties",
                   {{"cdrs", arrayOf("Cdr")},
                    {"next_before_id",
                     {{"type", "integer"},
                      {"nullable", true},
                      {"description", "pass as before_id for the next page"}}}}}};
  s["Stats"] = {{"type", "object"},
                {"description",
                 "counters by reason and table sizes, grouped by component (calls, "
                 "gateways, transport, transactions, cdr_writer, hep, log, api, auth, registrar, "
                 "policy, carriers, shield)"}};
  return s;
}

Json queryParams(const char* spec) {
  Json out = Json::array();
  if (!spec || !*spec) return out;
  std::string_view rest = spec;
  while (!rest.empty()) {
    size_t bar = rest.find('|');
    std::string_view one = rest.substr(0, bar);
    rest = bar == std::string_view::npos ? std::string_view() : rest.substr(bar + 1);
    size_t c1 = one.find(':');
    size_t c2 = one.find(':', c1 + 1);
    Json p;
    p["name"] = std::string(one.substr(0, c1));
    p["in"] = "query";
    p["required"] = false;
    p["schema"] = {{"type", std::string(one.substr(c1 + 1, c2 - c1 - 1))}};
    p["description"] = std::string(one.substr(c2 + 1));
    out.push_back(p);
  }
  return out;
}

}  // namespace

std::string buildOpenApi() {
  Json doc;
  doc["openapi"] = "3.0.3";
  doc["info"] = {{"title", "tollgate management API"},
                 {"version", "1"},
                 {"description",
                  "Provisioning (gateways, accounts, fraud rules, number lists), the dynamic "
                  "blacklist, bans, suspensions, registrations, users, live calls, CDRs, stats, "
                  "metrics and SIP trace of one tollgate node. Authenticate with POST "
                  "/api/v1/login (session) or an API "
                  "token, then send Authorization: Bearer <token>. See docs/api.md."}};
  Json paths = Json::object();
  for (const Route& r : apiRoutes()) {
    Json op;
    std::string m = ascii::lowered(r.method);
    // get /api/v1/users/{name} -> get_api_v1_users_name
    std::string id = m;
    for (char c : std::string_view(r.path)) {
      if (std::isalnum(static_cast<unsigned char>(c))) {
        id += c;
      } else if (c == '/' || c == '-') {
        if (id.back() != '_') id += '_';
      }
    }
    op["operationId"] = id;
    op["summary"] = r.summary;
    op["tags"] = {r.tag};
    const char* access = r.access == Access::Public    ? "public"
                         : r.access == Access::Read    ? "readonly"
                         : r.access == Access::Operate ? "operator"
                                                       : "admin";
    op["x-tollgate-role"] = access;
    if (r.access == Access::Public) {
      op["security"] = Json::array();
    }
    Json params = Json::array();
    for (const std::string& seg : split(r.path)) {
      if (!isPlaceholder(seg)) continue;
      params.push_back({{"name", seg.substr(1, seg.size() - 2)},
                        {"in", "path"},
                        {"required", true},
                        {"schema", {{"type", "string"}}}});
    }
    for (auto& q : queryParams(r.query)) params.push_back(q);
    if (!params.empty()) op["parameters"] = params;
    if (r.requestSchema) {
      op["requestBody"] = {
          {"required", true},
          {"content",
           {{"application/json",
             {{"schema", {{"$ref", std::string("#/components/schemas/") + r.requestSchema}}}}}}}};
    }
    Json responses;
    Json ok;
    ok["description"] = "success";
    if (r.responseSchema) {
      std::string rs = r.responseSchema;
      if (rs == "text") {
        ok["content"] = {{"text/plain", {{"schema", {{"type", "string"}}}}}};
      } else if (rs == "trace") {
        ok["content"] = {{"text/plain", {{"schema", {{"type", "string"}}}}},
                         {"application/x-ndjson", {{"schema", {{"type", "string"}}}}},
                         {"application/vnd.tcpdump.pcap",
                          {{"schema", {{"type", "string"}, {"format", "binary"}}}}}};
      } else if (rs == "pcap") {
        ok["content"] = {{"application/vnd.tcpdump.pcap",
                          {{"schema", {{"type", "string"}, {"format", "binary"}}}}}};
      } else if (rs == "events") {
        ok["content"] = {{"text/event-stream", {{"schema", {{"type", "string"}}}}}};
      } else if (rs == "CdrList") {
        ok["content"] = {
            {"application/json", {{"schema", {{"$ref", "#/components/schemas/CdrList"}}}}},
            {"text/csv", {{"schema", {{"type", "string"}}}}}};
      } else if (rs == "openapi") {
        ok["content"] = {{"application/json", {{"schema", {{"type", "object"}}}}}};
      } else {
        ok["content"] = {
            {"application/json", {{"schema", {{"$ref", "#/components/schemas/" + rs}}}}}};
      }
    }
    responses[std::to_string(r.successStatus)] = ok;
    Json err = {{"description", "error"},
                {"content",
                 {{"application/json", {{"schema", {{"$ref", "#/components/schemas/Error"}}}}}}}};
    if (r.requestSchema || r.query) responses["400"] = err;
    if (r.access != Access::Public) {
      responses["401"] = err;
      responses["403"] = err;
    }
    if (std::string_view(r.path).find('{') != std::string_view::npos) responses["404"] = err;
    op["responses"] = responses;
    paths[r.path][m] = op;
  }
  doc["paths"] = paths;
  doc["components"] = {{"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}},
                       {"schemas", schemas()}};
  doc["security"] = {{{"bearer", Json::array()}}};
  return doc.dump(2) + "\n";
}

}  // namespace tollgate::mgmt
