// RFC 4475 / RFC 5118 torture messages (tests/torture/): every file is fed
// as one UDP datagram to Message::parse and then to checkRequest with the
// default policy; our verdict must be one the `response` column of
// expected.tsv allows for our role. The role mapping is documented in
// docs/sip-parser.md ("Torture verdicts").
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sip/checks.h"
#include "sip/framing.h"
#include "sip/message.h"

namespace tollgate::sip {
namespace {

const std::string kTortureDir = std::string(TOLLGATE_SOURCE_DIR) + "/tests/torture/";

struct Row {
  std::string name;
  std::string section;
  std::string expected;  // valid / invalid / app
  std::string response;
  size_t octets = 0;
};

std::vector<Row> loadRows() {
  std::vector<Row> rows;
  std::ifstream in(kTortureDir + "expected.tsv");
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (header) {
      header = false;
      continue;
    }
    if (line.empty()) continue;
    std::vector<std::string> cols;
    std::stringstream ss(line);
    std::string col;
    while (std::getline(ss, col, '\t')) cols.push_back(col);
    if (cols.size() < 8) continue;
    Row r;
    r.name = cols[0];
    r.section = cols[1];
    r.expected = cols[2];
    r.response = cols[3];
    r.octets = static_cast<size_t>(std::stoul(cols[6]));
    rows.push_back(r);
  }
  return rows;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Our verdict: "accept", "drop" or a status code as text.
struct Verdict {
  std::string text;
  int status = 0;  // for a status verdict
  bool isRegister = false;
  bool isResponse = false;
};

Verdict verdictFor(const std::string& bytes) {
  Verdict v;
  auto parsed = Message::parse(std::string(bytes));
  if (!parsed) {
    v.status = parsed.error().status;
    v.text = v.status == 0 ? "drop" : std::to_string(v.status);
    return v;
  }
  const Message& m = **parsed;
  v.isResponse = m.isResponse();
  v.isRegister = m.isRequest() && m.method() == Method::Register;
  if (m.isRequest()) {
    CheckFailure f = checkRequest(m, CheckPolicy{});
    if (f.status != 0) {
      v.status = f.status;
      v.text = std::to_string(f.status);
      return v;
    }
  }
  v.text = "accept";
  return v;
}

std::string trimmed(const std::string& s) {
  size_t b = s.find_first_not_of(' ');
  size_t e = s.find_last_not_of(' ');
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// Whether `v` is allowed by the response column for our role: a B2BUA that
// is the UAS towards the sender and relays the call onwards.
bool allowed(const Row& row, const Verdict& v, std::string* why) {
  std::vector<std::string> items;
  std::stringstream ss(row.response);
  std::string item;
  while (std::getline(ss, item, ';')) items.push_back(trimmed(item));
  bool anyRegistrar = false;
  bool anyAccept = false;
  for (const std::string& it : items) {
    std::string role;
    std::stringstream alts(it);
    std::string alt;
    while (std::getline(alts, alt, '|')) {
      alt = trimmed(alt);
      size_t colon = alt.find(':');
      if (colon != std::string::npos) {
        role = alt.substr(0, colon);
        alt = alt.substr(colon + 1);
      }
      if (role == "stream") continue;  // exercised by the stream tests below
      if (role == "registrar") {
        anyRegistrar = true;
        continue;
      }
      // "" (UAS or proxy over UDP), "uas" and "proxy" are all ours.
      if (alt == "accept" || alt == "forward" || alt == "liberal-accept" ||
          alt == "rfc2543-fallback" || alt == "2xx") {
        anyAccept = true;
        if (v.text == "accept") {
          *why = role + ":" + alt;
          return true;
        }
      } else if (alt == "drop") {
        if (v.text == "drop") {
          *why = "drop";
          return true;
        }
        // A response that parses is handed to the transaction layer, which
        // drops it when no client transaction matches; a B2BUA never
        // routes a response by its Via (RFC 4475 §3.3.10 bcast).
        if (row.expected == "app" && v.isResponse && v.text == "accept") {
          *why = "drop (transaction layer)";
          return true;
        }
      } else if (alt == "reject") {
        if (v.status >= 400) {
          *why = role + ":reject";
          return true;
        }
      } else if (v.text == alt) {
        *why = role + ":" + alt;
        return true;
      }
    }
  }
  // 405 is how a UAS processes a well-formed request of a method it knows
  // but does not offer (RFC 3261 §8.2.1): it counts as "accept". We are not
  // a registrar yet, so REGISTER gets 405 too, also on the rows whose only
  // items are registrar: ones (RFC 4475 §3.3.7 names 405 for an element
  // that is not a registrar).
  if (v.status == 405 && (anyAccept || (v.isRegister && anyRegistrar))) {
    *why = "405: known method not offered here";
    return true;
  }
  return false;
}

class TortureTest : public ::testing::TestWithParam<Row> {};

TEST_P(TortureTest, VerdictIsAllowed) {
  const Row& row = GetParam();
  std::string bytes = readFile(kTortureDir + row.name + ".dat");
  ASSERT_EQ(bytes.size(), row.octets) << row.name << ".dat missing or changed";
  Verdict v = verdictFor(bytes);
  std::string why;
  EXPECT_TRUE(allowed(row, v, &why))
      << row.name << " (" << row.section << ", " << row.expected << "): our verdict " << v.text
      << " is not in '" << row.response << "'";
  if (row.expected == "valid") {
    auto parsed = Message::parse(std::string(bytes));
    EXPECT_TRUE(parsed.ok()) << row.name << ": " << (parsed ? "" : parsed.error().detail);
  }
  RecordProperty("verdict", v.text);
}

// The valid messages that carry a Content-Length (all but inv2543).
std::vector<Row> streamRows() {
  std::vector<Row> rows;
  for (const Row& r : loadRows()) {
    if (r.expected != "valid") continue;
    auto parsed = Message::parse(readFile(kTortureDir + r.name + ".dat"));
    if (parsed && (*parsed)->contentLength()) rows.push_back(r);
  }
  return rows;
}

class TortureStreamTest : public ::testing::TestWithParam<Row> {};

// A valid message with a Content-Length, fed to nextFrame one byte at a
// time, is NeedMore until its last byte and then exactly one Message frame.
TEST_P(TortureStreamTest, FramesByteByByte) {
  const Row& row = GetParam();
  std::string bytes = readFile(kTortureDir + row.name + ".dat");
  auto parsed = Message::parse(std::string(bytes));
  ASSERT_TRUE(parsed.ok());
  const size_t expectedLength = (*parsed)->raw().size();
  std::string buffered;
  for (size_t i = 0; i < expectedLength; ++i) {
    buffered.push_back(bytes[i]);
    Frame f = nextFrame(buffered);
    if (i + 1 < expectedLength) {
      ASSERT_EQ(f.kind, Frame::NeedMore) << row.name << " at byte " << i;
    } else {
      ASSERT_EQ(f.kind, Frame::Message) << row.name << ": " << f.error;
      EXPECT_EQ(f.length, expectedLength);
    }
  }
  auto reparsed = Message::parse(std::string(buffered));
  ASSERT_TRUE(reparsed.ok());
  EXPECT_EQ((*reparsed)->raw(), (*parsed)->raw());
}

std::string rowName(const ::testing::TestParamInfo<Row>& info) {
  std::string n = info.param.name;
  for (char& c : n) {
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return n;
}

INSTANTIATE_TEST_SUITE_P(Rfc4475And5118, TortureTest, ::testing::ValuesIn(loadRows()), rowName);
INSTANTIATE_TEST_SUITE_P(ValidWithContentLength, TortureStreamTest,
                         ::testing::ValuesIn(streamRows()), rowName);

TEST(TortureSet, StreamSetHasEveryValidMessageButInv2543) {
  EXPECT_EQ(streamRows().size(), 24u);
}

TEST(TortureSet, HasAll61Messages) {
  EXPECT_EQ(loadRows().size(), 61u);
}

// stream: items of expected.tsv.
TEST(TortureStream, ClerrWaitsForTheMissingBody) {
  // 3.1.2.2 clerr: stream:wait-then-close — NeedMore; the transport's idle
  // timeout closes the connection.
  EXPECT_EQ(nextFrame(readFile(kTortureDir + "clerr.dat")).kind, Frame::NeedMore);
}

TEST(TortureStream, NclClosesTheConnection) {
  Frame f = nextFrame(readFile(kTortureDir + "ncl.dat"));  // Content-Length: -999
  EXPECT_EQ(f.kind, Frame::Error);
}

TEST(TortureStream, Mcl01ClosesTheConnection) {
  Frame f = nextFrame(readFile(kTortureDir + "mcl01.dat"));  // two Content-Lengths
  EXPECT_EQ(f.kind, Frame::Error);
}

TEST(TortureStream, DblreqIsTwoMessagesOnAStream) {
  std::string bytes = readFile(kTortureDir + "dblreq.dat");
  Frame first = nextFrame(bytes);
  ASSERT_EQ(first.kind, Frame::Message);
  auto reg = Message::parse(bytes.substr(0, first.length));
  ASSERT_TRUE(reg.ok());
  EXPECT_EQ((*reg)->method(), Method::Register);
  std::string_view rest = std::string_view(bytes).substr(first.length);
  Frame crlf = nextFrame(rest);  // the CRLF between them
  ASSERT_EQ(crlf.kind, Frame::KeepAlive);
  rest.remove_prefix(crlf.length);
  // On a stream the INVITE-looking bytes are a second message (its 150
  // octets of body are present; 5 octets remain after it).
  Frame second = nextFrame(rest);
  ASSERT_EQ(second.kind, Frame::Message);
  auto invite = Message::parse(std::string(rest.substr(0, second.length)));
  ASSERT_TRUE(invite.ok());
  EXPECT_EQ((*invite)->method(), Method::Invite);
  EXPECT_EQ(rest.size() - second.length, 5u);
}

TEST(TortureStream, Inv2543HasNoContentLengthSoCannotBeFramed) {
  EXPECT_EQ(nextFrame(readFile(kTortureDir + "inv2543.dat")).kind, Frame::Error);
}

}  // namespace
}  // namespace tollgate::sip
