// Connections to a host that vanished (its link went down: no FIN, no RST, no ACK) fail
// within the peer timeout (TCP_USER_TIMEOUT with data in flight, keepalive probes on an idle
// connection) instead of waiting for the caller's much later deadline.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "hosts.h"
#include "net/socket.h"

namespace tos::net {
namespace {

using std::chrono::seconds;

// A timeout of days (a user's "wait as long as it takes") is past what the kernel accepts for
// keepalive times (32767 s) and TCP_USER_TIMEOUT (INT_MAX ms): connections still work.
TEST(PeerTimeoutTest, AVeryLongPeerTimeoutStillConnects) {
  const auto before = DefaultPeerTimeout();
  ListenOptions lo;
  lo.host = "127.0.0.1";
  auto listener = Listen(lo);
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  for (auto t : {std::chrono::milliseconds(std::chrono::hours(200)),
                 std::chrono::milliseconds(std::chrono::hours(24 * 365 * 100))}) {
    SetDefaultPeerTimeout(t);
    auto c = Connect({"127.0.0.1", listener->LocalPort()}, After(seconds(10)));
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_TRUE(SetPeerTimeout(*c, t).ok());
    auto a = Accept(*listener, After(seconds(10)));
    EXPECT_TRUE(a.ok()) << a.status().ToString();
  }
  SetDefaultPeerTimeout(before);
  // A deadline past the clock's range is Never(), not an overflow into the past.
  EXPECT_EQ(After(std::chrono::milliseconds::max()), Never());
  EXPECT_GT(After(std::chrono::hours(24 * 365 * 1000)), Clock::now());
}

TEST(PeerTimeoutTest, AHostThatVanishesIsNoticedWithinThePeerTimeout) {
  if (!testing::TwoHosts::Possible()) GTEST_SKIP() << "network namespaces need root";
  testing::TwoHosts hosts;
  ASSERT_EQ(hosts.Up(), "");
  Socket listener;
  ASSERT_EQ(hosts.RunOnDriverHost([&] {
    ListenOptions lo;
    lo.host = testing::TwoHosts::kDriverAddress;
    auto l = Listen(lo);
    if (l.ok()) listener = std::move(l).value();
  }),
            "");
  ASSERT_TRUE(listener.valid());
  const HostPort addr{testing::TwoHosts::kDriverAddress, listener.LocalPort()};
  // Two connections from the other host: one will carry a large write, one waits idle.
  Socket writer_peer, reader_peer;
  ASSERT_EQ(hosts.RunOnOtherHost([&] {
    auto a = Connect(addr, After(seconds(5)));
    auto b = Connect(addr, After(seconds(5)));
    if (a.ok() && b.ok()) {
      writer_peer = std::move(a).value();
      reader_peer = std::move(b).value();
    }
  }),
            "");
  ASSERT_TRUE(writer_peer.valid() && reader_peer.valid());
  auto writer = Accept(listener, After(seconds(5)));
  auto reader = Accept(listener, After(seconds(5)));
  ASSERT_TRUE(writer.ok() && reader.ok());
  const auto peer_timeout = std::chrono::milliseconds(2000);
  ASSERT_TRUE(SetPeerTimeout(*writer, peer_timeout).ok());
  ASSERT_TRUE(SetPeerTimeout(*reader, peer_timeout).ok());

  ASSERT_EQ(hosts.CutOtherHost(), "");
  // The callers' own deadlines are a minute away: only the peer timeout can end these calls.
  auto start = std::chrono::steady_clock::now();
  std::string big(16 << 20, 'x');
  Status w = WriteAll(*writer, big.data(), big.size(), After(seconds(60)));
  EXPECT_FALSE(w.ok());
  // ETIMEDOUT from the kernel, not the caller's deadline.
  EXPECT_NE(w.message().find("Connection timed out"), std::string::npos) << w.ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(20)) << w.ToString();

  start = std::chrono::steady_clock::now();
  char c;
  Status r = ReadFull(*reader, &c, 1, After(seconds(60)));
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.message().find("Connection timed out"), std::string::npos) << r.ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(20)) << r.ToString();
}

}  // namespace
}  // namespace tos::net
