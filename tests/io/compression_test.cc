#include "tos/compression.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include "test_util.h"

namespace tos {
namespace {

using testing::TempDir;

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 12345;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245 + 12345;
    s[i] = static_cast<char>((i % 7 == 0) ? (x >> 16) : 'a' + i % 3);
  }
  return s;
}

Result<std::string> ReadAllThrough(const std::string& path, Compression c) {
  TOS_ASSIGN_OR_RETURN(auto f, OpenInputFile(path, c));
  std::string out;
  char buf[777];  // odd size: exercises partial reads
  for (;;) {
    TOS_ASSIGN_OR_RETURN(size_t n, f->Read(buf, sizeof(buf)));
    if (n == 0) return out;
    out.append(buf, n);
  }
}

std::string Gzip(const std::string& data) {
  TempDir tmp;
  auto w = OpenOutputFile(tmp / "x.gz", Compression::kGzip);
  EXPECT_TRUE(w.ok());
  EXPECT_TRUE((*w)->Append(data).ok());
  EXPECT_TRUE((*w)->Close().ok());
  return testing::ReadAll(tmp / "x.gz");
}

TEST(GzipTest, RoundTripIsExactAndReadableByZlib) {
  TempDir tmp;
  std::string data = Pattern(1 << 20);
  std::string gz = Gzip(data);
  EXPECT_LT(gz.size(), data.size());
  testing::WriteAll(tmp / "a.gz", gz);
  TOS_ASSERT_OK_AND_ASSIGN(std::string back, ReadAllThrough(tmp / "a.gz", Compression::kGzip));
  EXPECT_TRUE(back == data);
  // Independently: zlib's gz* API reads what we wrote.
  gzFile f = gzopen((tmp / "a.gz").c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::string z(data.size() + 10, '\0');
  int n = gzread(f, z.data(), static_cast<unsigned>(z.size()));
  gzclose(f);
  ASSERT_EQ(n, static_cast<int>(data.size()));
  z.resize(n);
  EXPECT_TRUE(z == data);
}

TEST(GzipTest, IncompressibleDataRoundTripsThroughGrowingChunks) {
  // More compressed bytes than the largest chunk several times over, so the reader's and the
  // writer's chunks grow from their first size to the largest and are refilled after that.
  TempDir tmp;
  std::string data(3 << 20, '\0');
  uint64_t x = 88172645463325252ull;
  for (char& c : data) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  std::string gz = Gzip(data);
  EXPECT_GT(gz.size(), data.size());
  testing::WriteAll(tmp / "r.gz", gz);
  TOS_ASSERT_OK_AND_ASSIGN(std::string back, ReadAllThrough(tmp / "r.gz", Compression::kGzip));
  EXPECT_TRUE(back == data);
}

TEST(GzipTest, ConcatenatedMembersReadAsOneStream) {
  TempDir tmp;
  testing::WriteAll(tmp / "cat.gz", Gzip("first ") + Gzip("second"));
  TOS_ASSERT_OK_AND_ASSIGN(std::string back, ReadAllThrough(tmp / "cat.gz", Compression::kGzip));
  EXPECT_EQ(back, "first second");
}

TEST(GzipTest, EmptyFileIsDataLossNamingTheFile) {
  // A 0-byte part is a part that was never written: reading it as no records would drop a
  // partition's data silently.
  TempDir tmp;
  testing::WriteAll(tmp / "part-00003.gz", "");
  auto r = ReadAllThrough(tmp / "part-00003.gz", Compression::kGzip);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("part-00003.gz"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("empty gzip file"), std::string::npos);
}

TEST(GzipTest, GzipOfNoDataIsAnEmptyStream) {
  TempDir tmp;
  testing::WriteAll(tmp / "none.gz", Gzip(""));
  TOS_ASSERT_OK_AND_ASSIGN(std::string back, ReadAllThrough(tmp / "none.gz", Compression::kGzip));
  EXPECT_EQ(back, "");
}

TEST(GzipTest, HeaderlessFileIsDataLossNamingTheFile) {
  TempDir tmp;
  testing::WriteAll(tmp / "plain.gz", "1,2,3\n4,5,6\n");
  auto r = ReadAllThrough(tmp / "plain.gz", Compression::kGzip);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("plain.gz"), std::string::npos) << r.status().ToString();
}

TEST(GzipTest, TruncatedGzipIsDataLossNamingFileAndOffset) {
  TempDir tmp;
  std::string gz = Gzip(Pattern(200000));
  testing::WriteAll(tmp / "cut.gz", gz.substr(0, gz.size() / 2));
  auto r = ReadAllThrough(tmp / "cut.gz", Compression::kGzip);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("cut.gz"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("truncated gzip"), std::string::npos);
  EXPECT_NE(r.status().message().find("byte " + std::to_string(gz.size() / 2)), std::string::npos)
      << r.status().ToString();
}

TEST(GzipTest, TruncatedTrailerIsDataLoss) {
  TempDir tmp;
  std::string gz = Gzip("short payload");
  testing::WriteAll(tmp / "t.gz", gz.substr(0, gz.size() - 3));  // CRC/ISIZE trailer cut
  auto r = ReadAllThrough(tmp / "t.gz", Compression::kGzip);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
}

TEST(GzipTest, CorruptDeflateDataIsDataLoss) {
  TempDir tmp;
  std::string gz = Gzip(Pattern(100000));
  for (size_t i = 20; i < gz.size() - 8; i += 97) gz[i] = static_cast<char>(gz[i] ^ 0x5a);
  testing::WriteAll(tmp / "bad.gz", gz);
  auto r = ReadAllThrough(tmp / "bad.gz", Compression::kGzip);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("bad.gz"), std::string::npos);
}

TEST(GzipTest, GarbageAfterAMemberIsDataLoss) {
  TempDir tmp;
  testing::WriteAll(tmp / "g.gz", Gzip("ok") + "not gzip at all");
  auto r = ReadAllThrough(tmp / "g.gz", Compression::kGzip);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
}

TEST(GzipTest, LooksGzippedChecksMagic) {
  EXPECT_TRUE(LooksGzipped("\x1f\x8b"));
  EXPECT_FALSE(LooksGzipped("\x1f"));
  EXPECT_FALSE(LooksGzipped(std::string("\0\0\x08\x03", 4)));
}

}  // namespace
}  // namespace tos
