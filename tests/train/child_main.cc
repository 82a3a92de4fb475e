// The test binary's main: runs the tests, or, started by a multi-process test with
// TOS_CHILD_ROLE set (see test_util.h), that role's code as a child process.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "train/test_util.h"

int main(int argc, char** argv) {
  const std::string role = tos::train::testing::ChildArg("ROLE");
  if (!role.empty()) {
    auto it = tos::train::testing::Roles().find(role);
    int code = it == tos::train::testing::Roles().end() ? 99 : it->second();
    std::fflush(stdout);
    std::fflush(stderr);
    _exit(code);
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
