#include "tos/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace tos {
namespace {

TEST(ResultTest, ValueOfAnOkResult) {
  Result<std::string> r(std::string("abc"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), "abc");
  EXPECT_EQ(*r, "abc");
  EXPECT_EQ(r->size(), 3u);
  std::string moved = std::move(r).value();
  EXPECT_EQ(moved, "abc");
}

TEST(ResultTest, OkStatusWithoutAValueIsAnInternalError) {
  Result<int> r(Status::OK());
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

class ResultDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(ResultDeathTest, ValueOfAnErrorPrintsTheStatusAndAborts) {
  Result<int> r(NotFound("mnist/train/part-00003: no such file"));
  EXPECT_DEATH(
      (void)r.value(),
      "tos::Result accessed without a value: NotFound: mnist/train/part-00003: no such file");
}

TEST_F(ResultDeathTest, EveryAccessorIsChecked) {
  const Result<std::string> cr(DataLoss("offset 1234: CRC mismatch"));
  EXPECT_DEATH((void)cr.value(), "DataLoss: offset 1234: CRC mismatch");
  EXPECT_DEATH((void)*cr, "DataLoss: offset 1234: CRC mismatch");
  EXPECT_DEATH((void)cr->size(), "DataLoss: offset 1234: CRC mismatch");
  Result<std::unique_ptr<int>> r(Timeout("no reply within 5 s"));
  EXPECT_DEATH((void)std::move(r).value(), "Timeout: no reply within 5 s");
  EXPECT_DEATH((void)r->get(), "Timeout: no reply within 5 s");
}

}  // namespace
}  // namespace tos
