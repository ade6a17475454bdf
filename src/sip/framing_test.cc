// nextFrame: stream framing and RFC 5626 keep-alives, including input that
// arrives one byte at a time.
#include "sip/framing.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sip/limits.h"
#include "sip/message.h"
#include "sip/test_messages.h"

namespace tollgate::sip {
namespace {

using testing::crlf;
using testing::request;
using testing::typicalInvite;

// Feeds `stream` to a buffer `chunk` bytes at a time, taking every frame
// out as soon as nextFrame reports one, like a TCP connection would.
struct Framed {
  std::vector<Frame> frames;
  std::vector<std::string> bytes;
  std::string leftover;
  bool error = false;
};

Framed feed(std::string_view stream, size_t chunk) {
  Framed out;
  std::string buffer;
  for (size_t i = 0; i < stream.size(); i += chunk) {
    buffer.append(stream.substr(i, chunk));
    for (;;) {
      Frame f = nextFrame(buffer);
      if (f.kind == Frame::NeedMore) break;
      if (f.kind == Frame::Error) {
        out.error = true;
        return out;
      }
      out.frames.push_back(f);
      out.bytes.push_back(buffer.substr(0, f.length));
      buffer.erase(0, f.length);
    }
  }
  out.leftover = buffer;
  return out;
}

TEST(Framing, EmptyBufferNeedsMore) {
  EXPECT_EQ(nextFrame("").kind, Frame::NeedMore);
}

TEST(Framing, FramesOneCompleteMessage) {
  std::string m = typicalInvite();
  Frame f = nextFrame(m);
  EXPECT_EQ(f.kind, Frame::Message);
  EXPECT_EQ(f.length, m.size());
}

TEST(Framing, NeedsMoreUntilTheLastByteArrives) {
  std::string m = typicalInvite();
  std::string buffer;
  for (size_t i = 0; i < m.size(); ++i) {
    buffer.push_back(m[i]);
    Frame f = nextFrame(buffer);
    if (i + 1 < m.size()) {
      ASSERT_EQ(f.kind, Frame::NeedMore) << "at byte " << i;
    } else {
      ASSERT_EQ(f.kind, Frame::Message);
      EXPECT_EQ(f.length, m.size());
    }
  }
}

TEST(Framing, FramesTwoMessagesInOneBuffer) {
  std::string a = typicalInvite();
  std::string b = request("BYE");
  Framed r = feed(a + b, a.size() + b.size());
  ASSERT_FALSE(r.error);
  ASSERT_EQ(r.frames.size(), 2u);
  EXPECT_EQ(r.bytes[0], a);
  EXPECT_EQ(r.bytes[1], b);
  EXPECT_TRUE(r.leftover.empty());
}

TEST(Framing, SplitsAStreamFedByteByByteOrInOddChunks) {
  std::string stream = "\r\n\r\n" + typicalInvite() + "\r\n" + request("ACK") +
                       request("MESSAGE", "Content-Type: text/plain\n", "hi\r\n\r\nthere");
  for (size_t chunk : {1, 2, 3, 7, 64, 1000}) {
    Framed r = feed(stream, chunk);
    ASSERT_FALSE(r.error) << chunk;
    std::vector<std::string> messages;
    for (size_t i = 0; i < r.frames.size(); ++i) {
      if (r.frames[i].kind == Frame::Message) messages.push_back(r.bytes[i]);
    }
    ASSERT_EQ(messages.size(), 3u) << chunk;
    for (const std::string& m : messages) EXPECT_TRUE(Message::parse(std::string(m)).ok()) << chunk;
    EXPECT_EQ(messages[2].substr(messages[2].size() - 11), "hi\r\n\r\nthere");
    EXPECT_TRUE(r.leftover.empty());
  }
}

TEST(Framing, PingIsAKeepAliveOfFourBytes) {
  Frame f = nextFrame("\r\n\r\n");
  EXPECT_EQ(f.kind, Frame::KeepAlive);
  EXPECT_EQ(f.length, 4u);
  Frame before = nextFrame("\r\n\r\nOPTIONS sip:x SIP/2.0\r\n");
  EXPECT_EQ(before.kind, Frame::KeepAlive);
  EXPECT_EQ(before.length, 4u);
}

TEST(Framing, LoneCrlfIsAKeepAliveOfTwoBytes) {
  Frame pong = nextFrame("\r\n");
  EXPECT_EQ(pong.kind, Frame::KeepAlive);
  EXPECT_EQ(pong.length, 2u);
  Frame beforeMessage = nextFrame("\r\nINVITE sip:x SIP/2.0\r\n");
  EXPECT_EQ(beforeMessage.kind, Frame::KeepAlive);
  EXPECT_EQ(beforeMessage.length, 2u);
}

TEST(Framing, WaitsWhenAPingMayBeHalfWay) {
  EXPECT_EQ(nextFrame("\r").kind, Frame::NeedMore);
  EXPECT_EQ(nextFrame("\r\n\r").kind, Frame::NeedMore);
}

TEST(Framing, BareLfIsAKeepAliveOfOneByte) {
  Frame f = nextFrame("\nOPTIONS");
  EXPECT_EQ(f.kind, Frame::KeepAlive);
  EXPECT_EQ(f.length, 1u);
}

TEST(Framing, StrayCrIsAnError) {
  EXPECT_EQ(nextFrame("\rX").kind, Frame::Error);
}

TEST(Framing, MissingContentLengthIsAnError) {
  Frame f = nextFrame(crlf("OPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/TCP h\n\n"));
  EXPECT_EQ(f.kind, Frame::Error);
  EXPECT_STRNE(f.error, "");
}

TEST(Framing, MalformedContentLengthIsAnError) {
  for (std::string_view cl : {"-999", "five", "", "1 2", "99999999999"}) {
    Frame f =
        nextFrame(crlf("OPTIONS sip:x@y SIP/2.0\nContent-Length: " + std::string(cl) + "\n\n"));
    EXPECT_EQ(f.kind, Frame::Error) << cl;
  }
}

TEST(Framing, RepeatedContentLengthIsAnError) {
  Frame f =
      nextFrame(crlf("OPTIONS sip:x@y SIP/2.0\nContent-Length: 13\nl: 5\n\n0123456789abcdef"));
  EXPECT_EQ(f.kind, Frame::Error);
}

TEST(Framing, ReadsCompactAndFoldedContentLength) {
  std::string compact = crlf("OPTIONS sip:x@y SIP/2.0\nL :  3\n\n") + "abc";
  Frame a = nextFrame(compact);
  EXPECT_EQ(a.kind, Frame::Message);
  EXPECT_EQ(a.length, compact.size());
  std::string folded =
      crlf("OPTIONS sip:x@y SIP/2.0\ncontent-length:\n   3\nX: y\n\n") + "abcEXTRA";
  Frame b = nextFrame(folded);
  EXPECT_EQ(b.kind, Frame::Message);
  EXPECT_EQ(b.length, folded.size() - 5);
}

TEST(Framing, IgnoresContentLengthLookalikesInOtherFields) {
  std::string m = crlf(
                      "OPTIONS sip:x@y SIP/2.0\nX-Content-Length: 99\nSubject: l: 50\n continued "
                      "l: 7\nl: 2\n\n") +
                  "ok";
  Frame f = nextFrame(m);
  EXPECT_EQ(f.kind, Frame::Message);
  EXPECT_EQ(f.length, m.size());
}

TEST(Framing, NeedsMoreWhileTheBodyIsIncomplete) {
  std::string m = request("MESSAGE", "Content-Type: text/plain\n", "0123456789");
  EXPECT_EQ(nextFrame(std::string_view(m).substr(0, m.size() - 1)).kind, Frame::NeedMore);
  EXPECT_EQ(nextFrame(m).kind, Frame::Message);
}

TEST(Framing, AcceptsBareLfHeaderSection) {
  std::string m = "OPTIONS sip:x@y SIP/2.0\nContent-Length: 2\n\nhiNEXT";
  Frame f = nextFrame(m);
  EXPECT_EQ(f.kind, Frame::Message);
  EXPECT_EQ(f.length, m.size() - 4);
}

TEST(Framing, OversizedHeaderSectionIsAnError) {
  std::string big = "OPTIONS sip:x@y SIP/2.0\r\nX: " + std::string(kMaxMessageSize, 'a');
  EXPECT_EQ(nextFrame(big).kind, Frame::Error);
  EXPECT_EQ(nextFrame(std::string_view(big).substr(0, kMaxMessageSize - 1)).kind, Frame::NeedMore);
}

TEST(Framing, ContentLengthBeyondTheMessageLimitIsAnError) {
  Frame f = nextFrame(crlf("OPTIONS sip:x@y SIP/2.0\nContent-Length: 65536\n\n"));
  EXPECT_EQ(f.kind, Frame::Error);
  std::string head = crlf("OPTIONS sip:x@y SIP/2.0\nContent-Length: 65000\n\n");
  EXPECT_EQ(nextFrame(head).kind, Frame::NeedMore);  // fits: wait for it
}

}  // namespace
}  // namespace tollgate::sip
