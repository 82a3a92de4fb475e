#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "formats/crc32c_internal.h"
#include "tos/tfrecord.h"

namespace tos {
namespace {

using Impl = uint32_t (*)(uint32_t, const void*, size_t);

class Crc32cImpl : public ::testing::TestWithParam<Impl> {
 protected:
  uint32_t Crc(const void* p, size_t n) { return GetParam()(0, p, n); }
};

// The check value of the CRC-32C catalogue entry (Rocksoft model).
TEST_P(Crc32cImpl, CheckValueOf123456789) { EXPECT_EQ(Crc("123456789", 9), 0xE3069283u); }

// RFC 3720 (iSCSI) appendix B.4 test vectors.
TEST_P(Crc32cImpl, Rfc3720Vectors) {
  uint8_t buf[32];
  std::memset(buf, 0, sizeof(buf));
  EXPECT_EQ(Crc(buf, 32), 0x8A9136AAu);
  std::memset(buf, 0xff, sizeof(buf));
  EXPECT_EQ(Crc(buf, 32), 0x62A8AB43u);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(Crc(buf, 32), 0x46DD794Eu);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(31 - i);
  EXPECT_EQ(Crc(buf, 32), 0x113FDB5Cu);
}

TEST_P(Crc32cImpl, EmptyInputIsZero) { EXPECT_EQ(Crc("", 0), 0u); }

TEST_P(Crc32cImpl, ExtendEqualsWholeAtEveryAlignmentAndSplit) {
  std::string data(1000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31 + 7);
  for (size_t start = 0; start < 9; ++start) {
    const char* p = data.data() + start;
    size_t n = data.size() - start;
    uint32_t whole = Crc(p, n);
    for (size_t split : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{500}, n}) {
      EXPECT_EQ(GetParam()(GetParam()(0, p, split), p + split, n - split), whole);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Both, Crc32cImpl,
                         ::testing::Values(&internal::Crc32cExtendPortable,
                                           &internal::Crc32cExtendHardware));

TEST(Crc32cTest, HardwareAndPortableAgreeOnRandomData) {
  std::string data(4096, '\0');
  uint32_t x = 1;
  for (auto& c : data) c = static_cast<char>((x = x * 1664525 + 1013904223) >> 24);
  for (size_t n = 0; n < data.size(); n += 37) {
    EXPECT_EQ(internal::Crc32cExtendPortable(0, data.data(), n),
              internal::Crc32cExtendHardware(0, data.data(), n));
  }
  EXPECT_EQ(Crc32c(data.data(), data.size()),
            internal::Crc32cExtendPortable(0, data.data(), data.size()));
}

TEST(MaskCrcTest, MaskIsTensorFlowsRotateAndAdd) {
  uint32_t crc = 0xE3069283u;
  EXPECT_EQ(MaskCrc32c(crc), ((crc >> 15) | (crc << 17)) + 0xa282ead8u);
  EXPECT_NE(MaskCrc32c(crc), crc);
  EXPECT_NE(MaskCrc32c(MaskCrc32c(crc)), crc);
  EXPECT_EQ(UnmaskCrc32c(MaskCrc32c(crc)), crc);
  for (uint32_t v : {0u, 1u, 0xffffffffu, 0x80000000u, 0x12345678u}) {
    EXPECT_EQ(UnmaskCrc32c(MaskCrc32c(v)), v);
  }
  // TFRecord header of an empty record: masked CRC of 8 zero bytes (from TensorBoard's writer).
  uint8_t zeros[8] = {};
  EXPECT_EQ(MaskCrc32c(Crc32c(zeros, 8)), 0x07980329u);
}

}  // namespace
}  // namespace tos
