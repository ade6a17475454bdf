// flood_gen: the flood of bench/flood.py. Sends SIP OPTIONS, REGISTER and
// INVITE requests (an ordinary User-Agent: no signature to catch them) to
// one target from many loopback source addresses (one UDP socket bound to
// each), as fast as it can or at a given rate, for a bounded time, and
// counts the answers that come back. Prints one JSON object.
//
//   flood_gen --target 127.0.0.1:5060 --sources 4096 --first 127.1.0.1
//             --seconds 20 [--rate 0] [--batch 8]
//
// Bounded by construction: the target must be a 127.0.0.0/8 address, the
// sources are loopback addresses, at most 60 s and 65536 sources.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int kMaxSeconds = 60;
constexpr int kMaxSources = 65536;
constexpr int kMaxBatch = 64;

struct Args {
  std::string target = "127.0.0.1:5060";
  int sources = 4096;
  std::string first = "127.1.0.1";
  double seconds = 20;
  double rate = 0;  // datagrams per second; 0 = as fast as possible
  int batch = 8;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "flood_gen: %s\n", why);
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc) usage("missing value");
    std::string v = argv[++i];
    if (k == "--target") {
      a.target = v;
    } else if (k == "--sources") {
      a.sources = std::atoi(v.c_str());
    } else if (k == "--first") {
      a.first = v;
    } else if (k == "--seconds") {
      a.seconds = std::atof(v.c_str());
    } else if (k == "--rate") {
      a.rate = std::atof(v.c_str());
    } else if (k == "--batch") {
      a.batch = std::atoi(v.c_str());
    } else {
      usage("unknown option");
    }
  }
  if (a.sources < 1 || a.sources > kMaxSources) usage("--sources must be 1..65536");
  if (a.seconds <= 0 || a.seconds > kMaxSeconds) usage("--seconds must be in (0, 60]");
  if (a.batch < 1 || a.batch > kMaxBatch) usage("--batch must be 1..64");
  return a;
}

std::string request(const char* method, const char* src, int n, const std::string& target) {
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "%s sip:%d@%s SIP/2.0\r\n"
                "Via: SIP/2.0/UDP %s:5060;branch=z9hG4bK-fl%08x;rport\r\n"
                "Max-Forwards: 70\r\n"
                "From: <sip:%d@%s>;tag=fl%06x\r\n"
                "To: <sip:%d@%s>\r\n"
                "Call-ID: flood-%08x@%s\r\n"
                "CSeq: 1 %s\r\n"
                "Contact: <sip:%d@%s:5060>\r\n"
                "User-Agent: PolycomVVX-VVX_411-UA/5.9.0\r\n"
                "Content-Length: 0\r\n\r\n",
                method, 1000 + n % 9000, target.c_str(), src, n, n % 9000, src, n, 1000 + n % 9000,
                target.c_str(), n, src, method, n % 9000, src);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  const size_t colon = a.target.rfind(':');
  if (colon == std::string::npos) usage("--target must be IP:port");
  const std::string host = a.target.substr(0, colon);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(std::atoi(a.target.c_str() + colon + 1)));
  if (inet_pton(AF_INET, host.c_str(), &dst.sin_addr) != 1 ||
      (ntohl(dst.sin_addr.s_addr) >> 24) != 127) {
    usage("--target must be a 127.0.0.0/8 address (loopback only)");
  }
  in_addr first{};
  if (inet_pton(AF_INET, a.first.c_str(), &first) != 1 || (ntohl(first.s_addr) >> 24) != 127) {
    usage("--first must be a 127.0.0.0/8 address");
  }

  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  const int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<int> fds;
  std::vector<std::vector<std::string>> payloads;  // per source: one of each method
  uint32_t addr = ntohl(first.s_addr);
  for (int i = 0; i < a.sources; ++i, ++addr) {
    while ((addr & 0xff) == 0 || (addr & 0xff) == 0xff) ++addr;  // skip .0 and .255
    if ((addr >> 24) != 127) break;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) break;  // out of descriptors: flood with what we have
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      close(fd);
      continue;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(fds.size());
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    fds.push_back(fd);
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &src.sin_addr, text, sizeof text);
    payloads.push_back({request("OPTIONS", text, i, host), request("REGISTER", text, i, host),
                        request("INVITE", text, i, host)});
  }
  if (fds.empty()) usage("could not bind any source address");

  std::vector<mmsghdr> msgs(static_cast<size_t>(a.batch));
  std::vector<iovec> iovs(static_cast<size_t>(a.batch));
  uint64_t sent = 0, sendErrors = 0, answered = 0, rounds = 0;
  char rbuf[65536];
  std::vector<epoll_event> events(1024);

  auto drain = [&] {
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 0);
    for (int i = 0; i < n; ++i) {
      int fd = fds[events[i].data.u32];
      while (recv(fd, rbuf, sizeof rbuf, MSG_DONTWAIT) > 0) ++answered;
    }
  };

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.seconds));
  size_t next = 0;
  for (;;) {
    const auto now = Clock::now();
    if (now >= end) break;
    if (a.rate > 0) {
      const double elapsed = std::chrono::duration<double>(now - start).count();
      if (static_cast<double>(sent) >= elapsed * a.rate) {
        drain();
        usleep(100);
        continue;
      }
    }
    const size_t s = next;
    next = (next + 1) % fds.size();
    for (int j = 0; j < a.batch; ++j) {
      const std::string& p = payloads[s][static_cast<size_t>(rounds + j) % 3];
      iovs[j].iov_base = const_cast<char*>(p.data());
      iovs[j].iov_len = p.size();
      msgs[j] = mmsghdr{};
      msgs[j].msg_hdr.msg_name = &dst;
      msgs[j].msg_hdr.msg_namelen = sizeof dst;
      msgs[j].msg_hdr.msg_iov = &iovs[j];
      msgs[j].msg_hdr.msg_iovlen = 1;
    }
    int n = sendmmsg(fds[s], msgs.data(), static_cast<unsigned>(a.batch), MSG_DONTWAIT);
    if (n > 0) sent += static_cast<uint64_t>(n);
    if (n < a.batch) sendErrors += static_cast<uint64_t>(a.batch - (n > 0 ? n : 0));
    if ((++rounds & 63) == 0) drain();
  }
  // Answers still in flight.
  const auto tailEnd = Clock::now() + std::chrono::milliseconds(500);
  while (Clock::now() < tailEnd) {
    drain();
    usleep(10000);
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count() - 0.5;
  std::printf(
      "{\"sources\": %zu, \"seconds\": %.2f, \"sent\": %llu, \"send_errors\": %llu, "
      "\"answered\": %llu, \"rate\": %.0f}\n",
      fds.size(), secs, static_cast<unsigned long long>(sent),
      static_cast<unsigned long long>(sendErrors), static_cast<unsigned long long>(answered),
      static_cast<double>(sent) / secs);
  for (int fd : fds) close(fd);
  close(ep);
  return 0;
}
