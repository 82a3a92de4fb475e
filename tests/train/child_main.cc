// Entry point of child processes started by the multi-process tests (see test_util.h).
#include <gtest/gtest.h>

#include <cstdio>

#include "train/test_util.h"

TEST(ChildProcess, Main) {
  using tos::train::testing::ChildArg;
  using tos::train::testing::Roles;
  const std::string role = ChildArg("ROLE");
  if (role.empty()) return;  // run directly: nothing to do
  auto it = Roles().find(role);
  int code = it == Roles().end() ? 99 : it->second();
  std::fflush(stdout);
  std::fflush(stderr);
  _exit(code);
}
