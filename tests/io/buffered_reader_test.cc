#include "io/buffered_reader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "io/memory_fs.h"
#include "test_util.h"

namespace tos {
namespace {

std::unique_ptr<BufferedReader> ReaderOver(const std::string& data, size_t buffer) {
  static auto* fs = [] {
    auto m = std::make_shared<MemoryFileSystem>();
    RegisterFileSystem("brtest", m);
    return m.get();
  }();
  static int counter = 0;
  std::string uri = "brtest://f" + std::to_string(counter++);
  fs->SetContents(uri, data);
  auto f = fs->NewSequentialFile(uri);
  EXPECT_TRUE(f.ok());
  return std::make_unique<BufferedReader>(std::move(f).value(), buffer);
}

std::vector<std::string> AllLines(BufferedReader* r) {
  std::vector<std::string> out;
  std::string_view line;
  for (;;) {
    auto more = r->ReadLine(&line);
    EXPECT_TRUE(more.ok()) << more.status().ToString();
    if (!more.ok() || !*more) return out;
    out.emplace_back(line);
  }
}

TEST(BufferedReaderTest, LinesLongerThanTheBufferAreWhole) {
  std::string a(300, 'a'), b(5, 'b'), c(1000, 'c');
  auto r = ReaderOver(a + "\n" + b + "\n" + c + "\n", 64);
  auto lines = AllLines(r.get());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], a);
  EXPECT_EQ(lines[1], b);
  EXPECT_EQ(lines[2], c);
  EXPECT_EQ(r->line_number(), 3u);
  EXPECT_EQ(r->offset(), a.size() + b.size() + c.size() + 3);
}

TEST(BufferedReaderTest, LastLineWithoutNewlineIsReturned) {
  auto r = ReaderOver("x\ny", 64);
  EXPECT_EQ(AllLines(r.get()), (std::vector<std::string>{"x", "y"}));
}

TEST(BufferedReaderTest, CarriageReturnBeforeNewlineIsDropped) {
  auto r = ReaderOver("1,2\r\n3,4\r\n", 64);
  EXPECT_EQ(AllLines(r.get()), (std::vector<std::string>{"1,2", "3,4"}));
}

TEST(BufferedReaderTest, EmptyFileHasNoLines) {
  auto r = ReaderOver("", 64);
  EXPECT_TRUE(AllLines(r.get()).empty());
}

TEST(BufferedReaderTest, FillStopsShortAtEndOfFile) {
  auto r = ReaderOver("0123456789", 64);
  TOS_ASSERT_OK_AND_ASSIGN(size_t n, r->Fill(4));
  EXPECT_GE(n, 4u);
  r->Consume(4);
  EXPECT_EQ(r->offset(), 4u);
  TOS_ASSERT_OK_AND_ASSIGN(n, r->Fill(1000));
  EXPECT_EQ(n, 6u);
  EXPECT_EQ(std::string(r->data(), n), "456789");
}

TEST(BufferedReaderTest, FillGrowsTheBufferForALargeRequest) {
  std::string data(10000, 'z');
  auto r = ReaderOver(data, 64);
  TOS_ASSERT_OK_AND_ASSIGN(size_t n, r->Fill(9000));
  EXPECT_GE(n, 9000u);
}

// Serves `data` and records how many bytes each Read asked for.
class RecordingFile final : public SequentialFile {
 public:
  RecordingFile(std::string data, std::vector<size_t>* asked)
      : data_(std::move(data)), asked_(asked) {}
  Result<size_t> Read(char* buf, size_t n) override {
    asked_->push_back(n);
    size_t k = std::min(n, data_.size() - pos_);
    std::memcpy(buf, data_.data() + pos_, k);
    pos_ += k;
    return k;
  }
  const std::string& path() const override { return path_; }

 private:
  std::string data_;
  std::vector<size_t>* asked_;
  size_t pos_ = 0;
  std::string path_ = "recording";
};

TEST(BufferedReaderTest, SmallFileIsReadWithTheInitialBufferOnly) {
  std::vector<size_t> asked;
  BufferedReader r(std::make_unique<RecordingFile>("tiny", &asked), 1 << 20);
  TOS_ASSERT_OK_AND_ASSIGN(size_t n, r.Fill(100));
  EXPECT_EQ(std::string(r.data(), n), "tiny");
  ASSERT_FALSE(asked.empty());
  for (size_t a : asked) EXPECT_LE(a, BufferedReader::kInitialBufferSize);
}

TEST(BufferedReaderTest, BufferGrowsToTheAskedSizeWhileTheFileFillsIt) {
  std::string data(3 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + i / 4096);
  std::vector<size_t> asked;
  BufferedReader r(std::make_unique<RecordingFile>(data, &asked), 1 << 20);
  std::string got;
  for (;;) {
    TOS_ASSERT_OK_AND_ASSIGN(size_t n, r.Fill(1000));
    if (n == 0) break;
    size_t take = std::min<size_t>(n, 1000);
    got.append(r.data(), take);
    r.Consume(take);
  }
  EXPECT_EQ(got, data);
  EXPECT_EQ(asked.front(), BufferedReader::kInitialBufferSize);
  EXPECT_GT(*std::max_element(asked.begin(), asked.end()), (1u << 20) / 2);
  for (size_t a : asked) EXPECT_LE(a, 1u << 20);
}

}  // namespace
}  // namespace tos
