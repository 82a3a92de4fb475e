#include "net/auth.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <thread>

#include "net/frame.h"
#include "net/server.h"

namespace tos::net {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const std::string kSecret = "0123456789abcdef0123456789abcdef";

// An echo server on 127.0.0.1: each authenticated client gets its frames echoed back.
struct EchoServer {
  std::unique_ptr<AuthServer> server;
  std::atomic<int> served{0};
  explicit EchoServer(milliseconds handshake_timeout = milliseconds(5000),
                      milliseconds warning_interval = milliseconds(10000)) {
    ListenOptions lo;
    lo.host = "127.0.0.1";
    auto listener = Listen(lo);
    EXPECT_TRUE(listener.ok());
    AuthServer::Options o;
    o.secret = kSecret;
    o.handshake_timeout = handshake_timeout;
    o.warning_interval = warning_interval;
    auto s = AuthServer::Start(std::move(listener).value(), o, [this](Socket& s, Channel) {
      ++served;
      for (;;) {
        auto f = ReadFrame(s, After(seconds(5)), 1024);
        if (!f.ok()) return;
        if (!WriteFrame(s, f->type, f->payload, After(seconds(5))).ok()) return;
      }
    });
    EXPECT_TRUE(s.ok());
    server = std::move(s).value();
  }
  HostPort addr() const { return {"127.0.0.1", server->port()}; }
};

Socket Dial(const HostPort& a) {
  auto s = Connect(a, After(seconds(5)));
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return std::move(s).value();
}

TEST(AuthTest, RightSecretIsServedAndEchoed) {
  EchoServer server;
  Socket s = Dial(server.addr());
  ASSERT_TRUE(ClientHandshake(s, kSecret, Channel::kFeed, After(seconds(5))).ok());
  ASSERT_TRUE(WriteFrame(s, FrameType::kHeartbeat, "hello", After(seconds(5))).ok());
  auto f = ReadFrame(s, After(seconds(5)));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->payload, "hello");
}

TEST(AuthTest, WrongSecretIsRejectedAndServerCarriesOn) {
  EchoServer server;
  {
    Socket s = Dial(server.addr());
    Status st =
        ClientHandshake(s, "another-secret-of-32-characters!", Channel::kFeed, After(seconds(5)));
    EXPECT_EQ(st.code(), StatusCode::kPermissionDenied) << st.ToString();
  }
  Socket s = Dial(server.addr());
  ASSERT_TRUE(ClientHandshake(s, kSecret, Channel::kFeed, After(seconds(5))).ok());
  ASSERT_TRUE(WriteFrame(s, FrameType::kHeartbeat, "still here", After(seconds(5))).ok());
  auto f = ReadFrame(s, After(seconds(5)));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->payload, "still here");
  EXPECT_EQ(server.served.load(), 1);  // the rejected client never reached the handler
}

TEST(AuthTest, GarbageInsteadOfAuthIsDropped) {
  EchoServer server;
  Socket s = Dial(server.addr());
  auto hello = ReadFrame(s, After(seconds(5)));
  ASSERT_TRUE(hello.ok());
  const char garbage[] = "\xff\xff\xff\x7f GET / HTTP/1.1\r\n\r\n";
  ASSERT_TRUE(WriteAll(s, garbage, sizeof(garbage) - 1, After(seconds(5))).ok());
  // The server closes the connection instead of allocating 2 GiB or waiting forever.
  char c;
  Status st = ReadFull(s, &c, 1, After(seconds(5)));
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  EXPECT_EQ(server.served.load(), 0);
}

size_t CountOf(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// 300 unauthenticated connections from one host: one warning line, then one line with the
// count of the rest, not 300.
TEST(AuthTest, DroppedConnectionWarningsAreLimitedPerSource) {
  testing::internal::CaptureStderr();
  {
    EchoServer server(milliseconds(5000), milliseconds(1500));
    for (int i = 0; i < 300; ++i) {
      Socket s = Dial(server.addr());
      ASSERT_TRUE(ReadFrame(s, After(seconds(5))).ok());  // the server's hello
      const char garbage[] = "\xff\xff\xff\x7f not a handshake";
      ASSERT_TRUE(WriteAll(s, garbage, sizeof(garbage) - 1, After(seconds(5))).ok());
      char c;
      (void)ReadFull(s, &c, 1, After(seconds(5)));  // the server closes it
    }
    std::this_thread::sleep_for(milliseconds(2500));  // the interval ends; the count is flushed
  }
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_LE(CountOf(err, "dropped connection from 127.0.0.1:"), 4u) << err.substr(0, 3000);
  EXPECT_GE(CountOf(err, "dropped connection from 127.0.0.1:"), 1u) << err.substr(0, 3000);
  EXPECT_NE(err.find(" more like this from 127.0.0.1 in the last "), std::string::npos)
      << err.substr(0, 3000);
  EXPECT_LE(CountOf(err, "\n"), 10u) << err.substr(0, 3000);
}

TEST(AuthTest, SilentClientIsDroppedAfterHandshakeTimeout) {
  EchoServer server(milliseconds(300));
  Socket silent = Dial(server.addr());
  // Meanwhile a real client is served: one slow peer does not stall the server.
  Socket s = Dial(server.addr());
  ASSERT_TRUE(ClientHandshake(s, kSecret, Channel::kFeed, After(seconds(5))).ok());
  auto hello = ReadFrame(silent, After(seconds(5)));
  ASSERT_TRUE(hello.ok());
  char c;
  Status st = ReadFull(silent, &c, 1, After(seconds(5)));
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
}

TEST(AuthTest, ServerWithoutSecretKnowledgeFailsMutualAuth) {
  // A fake server that sends a HELLO but cannot prove it knows the secret.
  ListenOptions lo;
  lo.host = "127.0.0.1";
  auto listener = Listen(lo);
  ASSERT_TRUE(listener.ok());
  int port = listener->LocalPort();
  std::thread fake([&] {
    auto c = Accept(*listener, After(seconds(5)));
    if (!c.ok()) return;
    (void)WriteFrame(*c, FrameType::kHello, std::string("TOS1") + std::string(32, 'n'),
                     After(seconds(5)));
    auto auth = ReadFrame(*c, After(seconds(5)));
    (void)WriteFrame(*c, FrameType::kAuthOk, std::string(32, 'x'), After(seconds(5)));
    std::this_thread::sleep_for(milliseconds(100));
  });
  Socket s = Dial({"127.0.0.1", port});
  Status st = ClientHandshake(s, kSecret, Channel::kFeed, After(seconds(5)));
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  fake.join();
}

TEST(FrameTest, OversizedDeclaredLengthIsDataLoss) {
  EchoServer server;
  Socket s = Dial(server.addr());
  ASSERT_TRUE(ClientHandshake(s, kSecret, Channel::kFeed, After(seconds(5))).ok());
  std::string big(2000, 'x');  // the echo server's limit is 1024
  ASSERT_TRUE(WriteFrame(s, FrameType::kHeartbeat, big, After(seconds(5))).ok());
  auto f = ReadFrame(s, After(seconds(5)));
  EXPECT_FALSE(f.ok());
}

// A connected pair of local sockets: what is written to .second is read from .first.
std::pair<Socket, Socket> LocalPair() {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  return {Socket(fds[0]), Socket(fds[1])};
}

TEST(FrameTest, PayloadsAroundTheBufferStepsArriveWhole) {
  for (size_t n : {size_t{0}, size_t{1}, kFrameProbeBytes - 1, kFrameProbeBytes,
                   kFrameProbeBytes + 1, 2 * kFrameProbeBytes + 1, kFrameTrustBytes - 1,
                   kFrameTrustBytes, kFrameTrustBytes + 1, size_t{3} << 20}) {
    auto [ours, peer] = LocalPair();
    std::string payload(n, '\0');
    for (size_t i = 0; i < n; ++i) payload[i] = static_cast<char>(i * 131 + i / 977);
    std::thread writer([&, &peer = peer] {
      EXPECT_TRUE(WriteFrame(peer, FrameType::kFeedData, payload, After(seconds(10))).ok());
      EXPECT_TRUE(WriteFrame(peer, FrameType::kFeedData, payload, After(seconds(10))).ok());
    });
    auto raw = ReadRawFrame(ours, After(seconds(10)));
    ASSERT_TRUE(raw.ok()) << n << ": " << raw.status().ToString();
    EXPECT_EQ(raw->type, FrameType::kFeedData);
    ASSERT_EQ(raw->size, n);
    EXPECT_TRUE(std::string(raw->payload.get(), raw->size) == payload) << n;
    auto f = ReadFrame(ours, After(seconds(10)));
    ASSERT_TRUE(f.ok()) << n << ": " << f.status().ToString();
    EXPECT_TRUE(f->payload == payload) << n;
    writer.join();
  }
}

TEST(FrameTest, TruncatedLargeFrameCountsFromTheStartOfThePayload) {
  // A header declaring 50 MiB, then a few bytes, or more than the first buffer steps, then the
  // end.
  for (size_t sent : {size_t{100}, kFrameProbeBytes + 904, kFrameTrustBytes + 5000}) {
    auto [ours, peer] = LocalPair();
    std::string bytes;
    PutU32(&bytes, (50u << 20) + 1);
    bytes.push_back(static_cast<char>(FrameType::kFeedData));
    bytes.append(sent, 'x');
    ASSERT_TRUE(WriteAll(peer, bytes.data(), bytes.size(), After(seconds(5))).ok());
    peer.Close();
    auto f = ReadRawFrame(ours, After(seconds(5)));
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.status().code(), StatusCode::kUnavailable);
    EXPECT_NE(f.status().message().find("after " + std::to_string(sent) + " of " +
                                        std::to_string(50u << 20) + " bytes"),
              std::string::npos)
        << f.status().ToString();
  }
}

TEST(FrameTest, ReadTimesOut) {
  EchoServer server;
  Socket s = Dial(server.addr());
  ASSERT_TRUE(ClientHandshake(s, kSecret, Channel::kFeed, After(seconds(5))).ok());
  auto f = ReadFrame(s, After(milliseconds(100)));
  EXPECT_EQ(f.status().code(), StatusCode::kTimeout);
}

TEST(SocketTest, PortRangeParsing) {
  auto r = ParsePortRange("9997-9999");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->first, 9997);
  EXPECT_EQ(r->second, 9999);
  EXPECT_FALSE(ParsePortRange("9999-9997").ok());
  EXPECT_FALSE(ParsePortRange("abc").ok());
  EXPECT_EQ(ParsePortRange("")->first, 0);
}

TEST(SocketTest, ListenInRangeSkipsBusyPorts) {
  ListenOptions lo;
  lo.host = "127.0.0.1";
  auto first = Listen(lo);
  ASSERT_TRUE(first.ok());
  int busy = first->LocalPort();
  // Find a free neighbour to form a range [busy, busy+k].
  for (int k = 1; k < 20; ++k) {
    auto s = ListenInRange(lo, busy, busy + k);
    if (s.ok()) {
      EXPECT_NE(s->LocalPort(), busy);
      return;
    }
  }
  FAIL() << "no free port next to " << busy;
}

TEST(SocketTest, ReservedPortCanBeSharedByAReusePortServer) {
  // The runtime holds a node's port bound (not listening) with SO_REUSEPORT; a server in the
  // same process binds the same port before the holder lets go, so the port is never free.
  ListenOptions hold;
  hold.host = "127.0.0.1";
  hold.reuse_port = true;
  hold.listen = false;
  auto held = Listen(hold);
  ASSERT_TRUE(held.ok());
  ListenOptions srv = hold;
  srv.port = held->LocalPort();
  srv.listen = true;
  auto server = Listen(srv);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  held->Close();
  auto c = Connect({"127.0.0.1", srv.port}, After(seconds(5)));
  EXPECT_TRUE(c.ok());
  // Without SO_REUSEPORT, nobody else can bind it meanwhile.
  ListenOptions thief;
  thief.host = "127.0.0.1";
  thief.port = srv.port;
  EXPECT_FALSE(Listen(thief).ok());
}

}  // namespace
}  // namespace tos::net
