// Hosts for the multi-host tests: network namespaces joined by veth pairs, with addresses the
// test creates (10.213.0.0/24). Nothing in the test process's own namespace changes, so tests
// running beside these ones keep their network as it was. Needs root and `ip` (iproute2).
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"
#include "tos/status.h"

namespace tos::testing {

class TwoHosts {
 public:
  // "d" is the driver's host (10.213.0.1), "h" the other one (10.213.0.2).
  TwoHosts() {
    std::string id = std::to_string(::getpid());
    driver_ = "tosd" + id;
    other_ = "tosh" + id;
  }
  ~TwoHosts() {
    for (auto& ns : {driver_, other_}) (void)RunCommand("ip netns del " + ns);
  }
  TwoHosts(const TwoHosts&) = delete;
  TwoHosts& operator=(const TwoHosts&) = delete;

  // Only root can make network namespaces: tests skip elsewhere.
  static bool Possible() { return ::geteuid() == 0; }

  // Creates both hosts and their link; "" on success, else what failed.
  std::string Up() {
    if (RunCommand("command -v ip").exit_code != 0)
      return "`ip` (iproute2) is not installed; run scripts/setup.sh";
    const std::string d = driver_, h = other_;
    for (const std::string& c : {
             "ip netns add " + d,
             "ip netns add " + h,
             "ip link add " + d + " netns " + d + " type veth peer name " + h + " netns " + h,
             "ip -n " + d + " addr add " + kDriverAddress + "/24 dev " + d,
             "ip -n " + h + " addr add " + kOtherAddress + "/24 dev " + h,
             "ip -n " + d + " link set lo up",
             "ip -n " + h + " link set lo up",
             "ip -n " + d + " link set " + d + " up",
             "ip -n " + h + " link set " + h + " up",
         }) {
      auto r = RunCommand(c);
      if (r.exit_code != 0) return c + ": " + r.output;
    }
    return "";
  }

  // Prefix that runs a command on a host: "ip netns exec <ns> ".
  std::string OnDriverHost() const { return "ip netns exec " + driver_ + " "; }
  std::string OnOtherHost() const { return "ip netns exec " + other_ + " "; }

  // The host drops off the network: its link goes down, so nothing it sends (FIN, RST,
  // ACK) arrives any more and what is sent to it is lost without an answer.
  std::string CutDriverHost() {
    return RunCommand("ip -n " + driver_ + " link set " + driver_ + " down").output;
  }
  std::string CutOtherHost() {
    return RunCommand("ip -n " + other_ + " link set " + other_ + " down").output;
  }

  // Runs f on a thread that has entered a host's network namespace: the sockets f creates
  // live on that host and stay usable from any thread afterwards. "" or what failed.
  std::string RunOnDriverHost(const std::function<void()>& f) const { return RunIn(driver_, f); }
  std::string RunOnOtherHost(const std::function<void()>& f) const { return RunIn(other_, f); }

  static constexpr const char* kDriverAddress = "10.213.0.1";
  static constexpr const char* kOtherAddress = "10.213.0.2";

 private:
  static std::string RunIn(const std::string& ns, const std::function<void()>& f) {
    std::string error;
    std::thread t([&] {
      int fd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
        error = "entering network namespace " + ns + ": " + tos::StrError(errno);
      } else {
        f();
      }
      if (fd >= 0) ::close(fd);
    });
    t.join();
    return error;
  }

  std::string driver_, other_;
};

}  // namespace tos::testing
