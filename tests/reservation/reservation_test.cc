#include <gtest/gtest.h>

#include <thread>

#include "net/frame.h"
#include "reservation/client.h"
#include "reservation/messages.h"
#include "reservation/server.h"

namespace tos::reservation {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const std::string kSecret = "reservation-test-secret-0123456789";
constexpr std::chrono::milliseconds kDriverTimeout = seconds(30);

std::unique_ptr<ReservationServer> StartServer(RoleLayout layout) {
  ReservationServer::Options o;
  o.secret = kSecret;
  o.layout = layout;
  o.bind_host = "127.0.0.1";
  o.advertise_host = "127.0.0.1";
  auto s = ReservationServer::Start(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return std::move(s).value();
}

Registration Reg(int id, const std::string& instance = "") {
  Registration r;
  r.executor_id = id;
  r.host = "127.0.0.1";
  r.port = 10000 + id;
  r.feed_port = 20000 + id;
  r.pid = 100 + id;
  r.instance = instance.empty() ? "instance-" + std::to_string(id) : instance;
  return r;
}

TEST(ReservationTest, AllNodesGetTheSameSpecAndTheirRoles) {
  auto server = StartServer({4, 1, true, false});
  std::vector<ClusterReply> replies(4);
  std::vector<std::unique_ptr<ControlChannel>> channels(4);
  std::vector<std::thread> threads;
  for (int i = 3; i >= 0; --i) {  // register out of order
    threads.emplace_back([&, i] {
      auto ch = ControlChannel::Register(server->address(), kSecret, Reg(i),
                                         net::After(seconds(10)), kDriverTimeout, &replies[i]);
      ASSERT_TRUE(ch.ok()) << ch.status().ToString();
      channels[i] = std::move(ch).value();
    });
  }
  for (auto& t : threads) t.join();
  auto spec = server->AwaitAll(net::After(seconds(1)));
  ASSERT_TRUE(spec.ok());
  for (auto& r : replies) EXPECT_EQ(r.cluster, *spec);
  EXPECT_EQ(replies[0].job_name, "ps");
  EXPECT_EQ(replies[1].job_name, "chief");
  EXPECT_EQ(replies[2].job_name, "worker");
  EXPECT_EQ(replies[2].task_index, 0);
  EXPECT_EQ(replies[3].task_index, 1);
  EXPECT_EQ((*spec)["ps"], std::vector<std::string>{"127.0.0.1:10000"});
  EXPECT_EQ((*spec)["worker"], (std::vector<std::string>{"127.0.0.1:10002", "127.0.0.1:10003"}));
}

TEST(ReservationTest, TimeoutNamesTheMissingExecutors) {
  auto server = StartServer({3, 1, false, false});
  ClusterReply reply;
  std::thread t([&] {
    auto ch = ControlChannel::Register(server->address(), kSecret, Reg(0),
                                       net::After(milliseconds(500)), kDriverTimeout, &reply);
    EXPECT_FALSE(ch.ok());
  });
  auto spec = server->AwaitAll(net::After(milliseconds(300)));
  t.join();
  ASSERT_EQ(spec.status().code(), StatusCode::kTimeout);
  EXPECT_NE(spec.status().message().find("missing executor(s) 1 (worker:0), 2 (worker:1)"),
            std::string::npos)
      << spec.status().message();
}

TEST(ReservationTest, RetriedRegistrationOfTheSameProcessIsIdempotent) {
  auto server = StartServer({2, 0, false, false});
  ClusterReply r0, r0b, r1;
  auto first = ControlChannel::Register(server->address(), kSecret, Reg(0, "same"),
                                        net::After(milliseconds(200)), kDriverTimeout, &r0);
  EXPECT_EQ(first.status().code(), StatusCode::kTimeout);  // executor 1 not there yet
  std::thread t([&] {
    auto again = ControlChannel::Register(server->address(), kSecret, Reg(0, "same"),
                                          net::After(seconds(5)), kDriverTimeout, &r0b);
    EXPECT_TRUE(again.ok()) << again.status().ToString();
  });
  auto other = ControlChannel::Register(server->address(), kSecret, Reg(1), net::After(seconds(5)),
                                        kDriverTimeout, &r1);
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  t.join();
  EXPECT_EQ(r0b.cluster, r1.cluster);
  EXPECT_EQ(server->registrations().size(), 2u);
}

TEST(ReservationTest, DuplicateIdFromAnotherProcessIsRejected) {
  auto server = StartServer({2, 0, false, false});
  ClusterReply reply;
  std::thread t([&] {
    (void)ControlChannel::Register(server->address(), kSecret, Reg(0, "first"),
                                   net::After(seconds(2)), kDriverTimeout, &reply);
  });
  // The first registration is in before the second arrives.
  for (int i = 0; i < 500 && server->registrations().empty(); ++i)
    std::this_thread::sleep_for(milliseconds(10));
  ASSERT_EQ(server->registrations().size(), 1u);
  auto dup = ControlChannel::Register(server->address(), kSecret, Reg(0, "second"),
                                      net::After(seconds(2)), kDriverTimeout, &reply);
  EXPECT_EQ(dup.status().code(), StatusCode::kAborted);
  EXPECT_NE(dup.status().message().find("duplicate executor id 0"), std::string::npos)
      << dup.status().message();
  server->Abort(Aborted("test over"));
  t.join();
}

TEST(ReservationTest, WrongSecretCannotRegister) {
  auto server = StartServer({1, 0, false, false});
  ClusterReply reply;
  auto ch = ControlChannel::Register(server->address(), "not-the-secret-0123456789", Reg(0),
                                     net::After(seconds(2)), kDriverTimeout, &reply);
  EXPECT_EQ(ch.status().code(), StatusCode::kPermissionDenied) << ch.status().ToString();
  EXPECT_TRUE(server->registrations().empty());
}

TEST(ReservationTest, ControlChannelCarriesStopAndEvents) {
  std::mutex mu;
  std::vector<NodeEvent::Kind> kinds;
  ReservationServer::Options o;
  o.secret = kSecret;
  o.layout = {1, 0, false, false};
  o.bind_host = o.advertise_host = "127.0.0.1";
  o.on_event = [&](const NodeEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    kinds.push_back(e.kind);
  };
  auto server = ReservationServer::Start(o);
  ASSERT_TRUE(server.ok());
  ClusterReply reply;
  auto ch = ControlChannel::Register((*server)->address(), kSecret, Reg(0), net::After(seconds(5)),
                                     kDriverTimeout, &reply);
  ASSERT_TRUE(ch.ok());
  std::atomic<bool> stopped{false};
  (*ch)->StartReader({[&] { stopped = true; }, nullptr, nullptr}, std::chrono::seconds(60));
  ASSERT_TRUE((*ch)->SendHeartbeat("{\"state\":\"x\",\"progress\":1}").ok());
  ASSERT_TRUE((*ch)->SendError("boom").ok());
  ASSERT_TRUE((*server)->SendStop(0).ok());
  for (int i = 0; i < 100 && !stopped; ++i) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_TRUE(stopped);
  (*ch)->Close();
  for (int i = 0; i < 100; ++i) {
    std::lock_guard<std::mutex> lock(mu);
    if (kinds.size() >= 4) break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(kinds, (std::vector<NodeEvent::Kind>{NodeEvent::kRegistered, NodeEvent::kHeartbeat,
                                                 NodeEvent::kError, NodeEvent::kDisconnected}));
}

// The driver heartbeats its nodes: a node sees a live driver as live however long it has
// nothing else to say, and a silent one (stopped, frozen, unreachable) as lost.
TEST(ReservationTest, NodeNoticesADriverThatStopsHeartbeating) {
  for (bool silent : {false, true}) {
    ReservationServer::Options o;
    o.secret = kSecret;
    o.layout = {1, 0, false, false};
    o.bind_host = o.advertise_host = "127.0.0.1";
    o.heartbeat_interval = silent ? std::chrono::hours(1) : milliseconds(200);
    auto server = ReservationServer::Start(o);
    ASSERT_TRUE(server.ok());
    ClusterReply reply;
    auto ch = ControlChannel::Register((*server)->address(), kSecret, Reg(0),
                                       net::After(seconds(5)), kDriverTimeout, &reply);
    ASSERT_TRUE(ch.ok()) << ch.status().ToString();
    std::mutex mu;
    Status lost;
    bool disconnected = false;
    auto start = std::chrono::steady_clock::now();
    auto lost_at = start;
    (*ch)->StartReader({nullptr, nullptr,
                        [&](const Status& why) {
                          std::lock_guard<std::mutex> lock(mu);
                          lost = why;
                          disconnected = true;
                          lost_at = std::chrono::steady_clock::now();
                        }},
                       seconds(2));
    std::this_thread::sleep_for(seconds(3));
    std::lock_guard<std::mutex> lock(mu);
    if (!silent) {
      EXPECT_FALSE(disconnected) << lost.ToString();
    } else {
      ASSERT_TRUE(disconnected);
      EXPECT_EQ(lost.code(), StatusCode::kTimeout);
      EXPECT_NE(lost.message().find(
                    "no heartbeat from the driver at 127.0.0.1:" +
                    std::to_string((*server)->address().port) +
                    " for 2 s (node_timeout): the driver is stopped, frozen or unreachable"),
                std::string::npos)
          << lost.ToString();
      EXPECT_LT(lost_at - start, seconds(3));
    }
  }
}

// A node still joining (others have not registered) gives up on a driver that goes silent or
// goes away within node_timeout, not at the reservation deadline: a Spark application that
// ended meanwhile must not leave it waiting for minutes.
TEST(ReservationTest, AJoiningNodeGivesUpOnASilentOrVanishedDriver) {
  for (bool silent : {true, false}) {
    ReservationServer::Options o;
    o.secret = kSecret;
    o.layout = {2, 0, false, false};  // executor 1 never registers
    o.bind_host = o.advertise_host = "127.0.0.1";
    o.heartbeat_interval = silent ? std::chrono::hours(1) : milliseconds(100);
    auto started = ReservationServer::Start(o);
    ASSERT_TRUE(started.ok());
    std::unique_ptr<ReservationServer> server = std::move(started).value();
    const net::HostPort address = server->address();
    ClusterReply reply;
    Result<std::unique_ptr<ControlChannel>> ch = Internal("not run");
    auto start = std::chrono::steady_clock::now();
    std::thread node([&] {
      ch = ControlChannel::Register(address, kSecret, Reg(0), net::After(seconds(60)), seconds(1),
                                    &reply);
    });
    if (!silent) {
      for (int i = 0; i < 500 && server->registrations().empty(); ++i)
        std::this_thread::sleep_for(milliseconds(10));
      ASSERT_EQ(server->registrations().size(), 1u);
      server.reset();  // the driver ends while the node waits for the cluster spec
    }
    node.join();
    auto took = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(ch.ok());
    EXPECT_LT(took, seconds(10)) << ch.status().ToString();
    const std::string where = "the driver at 127.0.0.1:" + std::to_string(address.port);
    if (silent) {
      EXPECT_EQ(ch.status().code(), StatusCode::kTimeout);
      EXPECT_NE(ch.status().message().find("no heartbeat from " + where +
                                           " for 1 s (node_timeout) while waiting for the "
                                           "cluster spec"),
                std::string::npos)
          << ch.status().ToString();
    } else {
      EXPECT_EQ(ch.status().code(), StatusCode::kUnavailable) << ch.status().ToString();
      EXPECT_NE(ch.status().message().find("could not reach it again within 1 s (node_timeout): "
                                           "the driver ended or is unreachable"),
                std::string::npos)
          << ch.status().ToString();
    }
  }
}

// A node whose control connection stays open but goes silent is dropped by the server.
TEST(ReservationTest, ServerClosesTheChannelOfASilentNode) {
  std::mutex mu;
  std::vector<NodeEvent> events;
  ReservationServer::Options o;
  o.secret = kSecret;
  o.layout = {2, 0, false, false};
  o.bind_host = o.advertise_host = "127.0.0.1";
  o.node_timeout = seconds(1);
  o.on_event = [&](const NodeEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(e);
  };
  auto server = ReservationServer::Start(o);
  ASSERT_TRUE(server.ok());
  auto sock = net::Connect((*server)->address(), net::After(seconds(5)));
  ASSERT_TRUE(sock.ok());
  ASSERT_TRUE(
      net::ClientHandshake(*sock, kSecret, net::Channel::kReservation, net::After(seconds(5)))
          .ok());
  ASSERT_TRUE(net::WriteFrame(*sock, net::FrameType::kRegister, EncodeRegistration(Reg(0)),
                              net::After(seconds(5)))
                  .ok());
  // Registered, then silent: never reads, never writes, never closes.
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    std::lock_guard<std::mutex> lock(mu);
    for (auto& e : events) gone |= e.kind == NodeEvent::kDisconnected;
  }
  ASSERT_TRUE(gone);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(events.back().kind, NodeEvent::kDisconnected);
  // node_timeout (1 s) and the slack after which the server frees the channel (10 s).
  EXPECT_EQ(events.back().message, "no heartbeat for 11 s");
}

TEST(KvStoreTest, SetGetAddAndWaitingGet) {
  auto server = StartServer({1, 0, false, false});
  auto a = KvClient::Connect(server->address(), kSecret, net::After(seconds(5)));
  auto b = KvClient::Connect(server->address(), kSecret, net::After(seconds(5)));
  ASSERT_TRUE(a.ok() && b.ok());
  std::string got;
  std::thread waiter([&] {
    auto v = (*b)->Get("rank0/addr", seconds(5));
    if (v.ok()) got = *v;
  });
  std::this_thread::sleep_for(milliseconds(50));
  ASSERT_TRUE((*a)->Set("rank0/addr", std::string("bin\0ary", 7)).ok());
  waiter.join();
  EXPECT_EQ(got, std::string("bin\0ary", 7));
  EXPECT_EQ(*(*a)->Add("counter", 2), 2);
  EXPECT_EQ(*(*b)->Add("counter", 3), 5);
  EXPECT_EQ((*a)->Get("never", milliseconds(100)).status().code(), StatusCode::kTimeout);
}

TEST(RolesTest, TfosOrder) {
  RoleLayout l{6, 2, true, true};
  EXPECT_EQ(RoleLabel(RoleFor(l, 0)), "ps:0");
  EXPECT_EQ(RoleLabel(RoleFor(l, 1)), "ps:1");
  EXPECT_EQ(RoleLabel(RoleFor(l, 2)), "chief:0");
  EXPECT_EQ(RoleLabel(RoleFor(l, 3)), "evaluator:0");
  EXPECT_EQ(RoleLabel(RoleFor(l, 4)), "worker:0");
  EXPECT_EQ(RoleLabel(RoleFor(l, 5)), "worker:1");
  EXPECT_FALSE(ValidateLayout({2, 2, false, false}).ok());
  EXPECT_FALSE(ValidateLayout({2, 1, false, true}).ok());
}

TEST(MessagesTest, OutOfRangeNumbersAreRefusedNamingTheField) {
  const std::string base =
      R"({"executor_id":0,"host":"h","port":1000,"feed_port":1001,"instance":"i","pid":)";
  for (const char* pid :
       {"4.2e116", "1e300", "-1", "2147483648", "18446744073709551615", "1.5", "\"7\"", "null"}) {
    auto r = DecodeRegistration(base + pid + "}");
    ASSERT_FALSE(r.ok()) << pid;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << pid;
    EXPECT_NE(r.status().message().find("'pid'"), std::string::npos) << r.status().message();
  }
  auto ok = DecodeRegistration(base + "2147483647}");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->pid, 2147483647);
  auto port = DecodeRegistration(
      R"({"executor_id":0,"host":"h","port":65536,"feed_port":1,"instance":"i","pid":1})");
  ASSERT_FALSE(port.ok());
  EXPECT_NE(port.status().message().find("'port'"), std::string::npos);
  EXPECT_FALSE(DecodeRegistration("[1,2]").ok());
  auto reply = DecodeClusterReply(
      R"({"cluster":{},"job_name":"w","task_index":1e40,"num_executors":1,"feeds":{}})");
  ASSERT_FALSE(reply.ok());
  EXPECT_NE(reply.status().message().find("'task_index'"), std::string::npos);
}

}  // namespace
}  // namespace tos::reservation
