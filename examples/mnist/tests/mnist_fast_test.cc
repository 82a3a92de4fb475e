// The fast decoding kernels against straightforward reference decoders, on valid records and on
// thousands of randomly damaged ones: the fast path may decline, but never accept a wrong input
// or decode a value differently.
#include "mnist_fast.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "mnist_dataset.h"

namespace tos {
namespace {

// Reference: split on ',' and convert each token with plain loops.
bool ReferenceCsv(const std::string& line, uint8_t* pixels) {
  size_t count = 0, start = 0;
  for (size_t i = 0; i <= line.size(); ++i) {
    if (i < line.size() && line[i] != ',') continue;
    size_t len = i - start;
    if (len < 1 || len > 3 || count >= kMnistPixels) return false;
    unsigned v = 0;
    for (size_t k = start; k < i; ++k) {
      if (line[k] < '0' || line[k] > '9') return false;
      v = v * 10 + static_cast<unsigned>(line[k] - '0');
    }
    if (v > 255) return false;
    pixels[count++] = static_cast<uint8_t>(v);
    start = i + 1;
  }
  return count == kMnistPixels;
}

// Reference: generic varint loop; values must be 0..255 and minimally... any valid varint.
bool ReferencePacked(const std::string& bytes, uint8_t* pixels) {
  size_t count = 0, i = 0;
  while (i < bytes.size()) {
    uint64_t v = 0;
    int shift = 0;
    bool done = false;
    while (i < bytes.size() && shift < 64) {
      uint8_t b = static_cast<uint8_t>(bytes[i++]);
      v |= uint64_t{b & 0x7fu} << shift;
      shift += 7;
      if (b < 0x80) {
        done = true;
        break;
      }
    }
    if (!done || v > 255 || count >= kMnistPixels) return false;
    pixels[count++] = static_cast<uint8_t>(v);
  }
  return count == kMnistPixels;
}

std::string CsvLine(const uint8_t* record) {
  std::string s;
  AppendMnistCsvImageLine(record, &s);
  s.pop_back();
  return s;
}

std::string PackedPayload(const uint8_t* record) {
  std::string s;
  for (size_t i = 0; i < kMnistPixels; ++i) {
    uint8_t v = record[1 + i];
    if (v < 128) {
      s.push_back(static_cast<char>(v));
    } else {
      s.push_back(static_cast<char>(v | 0x80));
      s.push_back(1);
    }
  }
  return s;
}

void RandomRecord(std::mt19937* rng, uint8_t* rec) {
  rec[0] = static_cast<uint8_t>((*rng)() % 10);
  int style = static_cast<int>((*rng)() % 3);
  for (size_t i = 0; i < kMnistPixels; ++i) {
    uint32_t r = (*rng)();
    rec[1 + i] = style == 0   ? static_cast<uint8_t>(r)
                 : style == 1 ? (r % 4 ? 0 : 255)
                              : static_cast<uint8_t>(r % 10);
  }
}

std::string Damage(std::mt19937* rng, std::string s, const std::string& alphabet) {
  int edits = 1 + static_cast<int>((*rng)() % 3);
  for (int e = 0; e < edits && !s.empty(); ++e) {
    size_t at = (*rng)() % s.size();
    char c = alphabet[(*rng)() % alphabet.size()];
    switch ((*rng)() % 3) {
      case 0:
        s[at] = c;
        break;
      case 1:
        s.erase(at, 1);
        break;
      default:
        s.insert(at, 1, c);
        break;
    }
  }
  return s;
}

TEST(MnistFastTest, CsvFastPathAcceptsEveryEncodedLine) {
  std::mt19937 rng(1);
  uint8_t rec[kMnistRecordBytes], got[kMnistPixels];
  for (int t = 0; t < 300; ++t) {
    RandomRecord(&rng, rec);
    std::string line = CsvLine(rec);
    ASSERT_TRUE(internal::ParseCsvPixelsFast(line.data(), line.data() + line.size(), got)) << t;
    ASSERT_EQ(std::memcmp(got, rec + 1, kMnistPixels), 0) << t;
  }
}

TEST(MnistFastTest, CsvFastPathAgreesWithReferenceOnDamagedLines) {
  std::mt19937 rng(2);
  uint8_t rec[kMnistRecordBytes], fast[kMnistPixels], ref[kMnistPixels];
  int accepted = 0;
  for (int t = 0; t < 3000; ++t) {
    RandomRecord(&rng, rec);
    std::string line = Damage(&rng, CsvLine(rec), "0123456789,,,x- 9");
    bool ok_ref = ReferenceCsv(line, ref);
    bool ok_fast = internal::ParseCsvPixelsFast(line.data(), line.data() + line.size(), fast);
    if (ok_fast) {
      ++accepted;
      ASSERT_TRUE(ok_ref) << "fast path accepted an invalid line: " << line;
      ASSERT_EQ(std::memcmp(fast, ref, kMnistPixels), 0) << line;
    }
    // Whatever the fast path declines, the full decoder decides like the reference.
    uint8_t out[kMnistRecordBytes];
    Status s = DecodeMnistCsvPair(line, "1", out);
    ASSERT_EQ(s.ok(), ok_ref) << s.ToString() << "\n" << line;
    if (ok_ref) {
      ASSERT_EQ(std::memcmp(out + 1, ref, kMnistPixels), 0);
    }
  }
  EXPECT_GT(accepted, 100);  // digit-for-digit damage keeps many lines valid
}

TEST(MnistFastTest, PackedFastPathsAcceptEveryEncodedImage) {
  std::mt19937 rng(3);
  uint8_t rec[kMnistRecordBytes], got[kMnistPixels];
  for (int t = 0; t < 300; ++t) {
    RandomRecord(&rng, rec);
    std::string p = PackedPayload(rec);
    const auto* q = reinterpret_cast<const uint8_t*>(p.data());
    ASSERT_TRUE(internal::DecodePackedPixelsFast(q, p.size(), got));
    ASSERT_EQ(std::memcmp(got, rec + 1, kMnistPixels), 0);
    std::memset(got, 0, sizeof(got));
    ASSERT_TRUE(internal::DecodePackedPixelsScalar(q, p.size(), got));
    ASSERT_EQ(std::memcmp(got, rec + 1, kMnistPixels), 0);
  }
}

TEST(MnistFastTest, PackedFastPathsAgreeWithReferenceOnDamagedPayloads) {
  std::mt19937 rng(4);
  std::string alphabet = {'\x00', '\x01', '\x02', '\x7f', '\x80', '\x81', '\xff', '\x01', '\x05'};
  uint8_t rec[kMnistRecordBytes], fast[kMnistPixels], ref[kMnistPixels];
  for (int t = 0; t < 3000; ++t) {
    RandomRecord(&rng, rec);
    std::string p = Damage(&rng, PackedPayload(rec), alphabet);
    const auto* q = reinterpret_cast<const uint8_t*>(p.data());
    bool ok_ref = ReferencePacked(p, ref);
    for (auto fn : {&internal::DecodePackedPixelsFast, &internal::DecodePackedPixelsScalar}) {
      if (fn(q, p.size(), fast)) {
        ASSERT_TRUE(ok_ref) << "fast path accepted an invalid payload, case " << t;
        ASSERT_EQ(std::memcmp(fast, ref, kMnistPixels), 0) << t;
      }
    }
  }
}

}  // namespace
}  // namespace tos
