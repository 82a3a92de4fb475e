// Runs the real mnist_data_setup binary on small IDX files generated here (--input), in every
// format, and on each kind of bad input: every failure is a non-zero exit with a message.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "idx.h"
#include "test_util.h"

namespace tos {
namespace {

using testing::RunCommand;
using testing::TempDir;

const std::string kTool = std::string(TOS_BIN_DIR) + "/mnist_data_setup";

class MnistDataSetupTool : public ::testing::Test {
 protected:
  void SetUp() override {
    struct stat st;
    ASSERT_EQ(::stat(kTool.c_str(), &st), 0) << kTool << " is not built";
    input_ = tmp_ / "idx";
    ASSERT_EQ(::mkdir(input_.c_str(), 0755), 0);
    WriteSplit("train", 50, Compression::kGzip);
    WriteSplit("t10k", 20, Compression::kNone);
  }

  void WriteSplit(const std::string& prefix, uint32_t n, Compression c) {
    IdxArray images, labels;
    images.dims = {n, 28, 28};
    labels.dims = {n};
    for (uint32_t r = 0; r < n; ++r) {
      labels.data.push_back(static_cast<uint8_t>((r * 3 + n) % 10));
      for (uint32_t p = 0; p < 784; ++p) images.data.push_back(static_cast<uint8_t>(r * 5 + p));
    }
    std::string ext = c == Compression::kGzip ? ".gz" : "";
    ASSERT_TRUE(WriteIdx(input_ + "/" + prefix + "-images-idx3-ubyte" + ext, images, c).ok());
    ASSERT_TRUE(WriteIdx(input_ + "/" + prefix + "-labels-idx1-ubyte" + ext, labels, c).ok());
  }

  testing::CommandResult Tool(const std::string& args) {
    return RunCommand(kTool + " --input " + input_ + " -o " + (tmp_ / "out") + " " + args);
  }

  TempDir tmp_;
  std::string input_;
};

TEST_F(MnistDataSetupTool, WritesAndVerifiesEveryFormat) {
  for (const std::string format : {"csv", "csv2", "tf", "tfr"}) {
    SCOPED_TRACE(format);
    auto w = Tool("--overwrite -n 3 -f " + format + " --verify");
    ASSERT_EQ(w.exit_code, 0) << w.output;
    EXPECT_NE(w.output.find("50 records in 3 partitions"), std::string::npos) << w.output;
    EXPECT_NE(w.output.find("20 records in 3 partitions"), std::string::npos) << w.output;
    auto r = Tool("-f " + format + " --read");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("num_images: 50"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("num_labels: 50"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("num_images: 20"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("sample 0: label 0"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("verified"), std::string::npos) << r.output;
  }
  struct stat st;
  EXPECT_EQ(::stat((tmp_ / "out/train/part-00002").c_str(), &st), 0);
}

TEST_F(MnistDataSetupTool, CsvLayoutHasImagesAndLabelsDirectories) {
  auto w = Tool("-n 2");
  ASSERT_EQ(w.exit_code, 0) << w.output;
  std::string labels = testing::ReadAll(tmp_ / "out/train/labels/part-00000");
  EXPECT_EQ(labels.substr(0, labels.find('\n')), "1.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0");
  std::string images = testing::ReadAll(tmp_ / "out/test/images/part-00001");
  EXPECT_EQ(std::count(images.begin(), images.end(), '\n'), 10);
  struct stat st;
  EXPECT_EQ(::stat((tmp_ / "out/train/images/_SUCCESS").c_str(), &st), 0);
}

TEST_F(MnistDataSetupTool, GzipTfRecordParts) {
  auto w = Tool("-f tfr --gzip -n 2 --verify");
  ASSERT_EQ(w.exit_code, 0) << w.output;
  EXPECT_TRUE(LooksGzipped(testing::ReadAll(tmp_ / "out/train/part-00000.gz")));
}

TEST_F(MnistDataSetupTool, ExistingOutputIsRefusedUnlessOverwrite) {
  ASSERT_EQ(Tool("-f csv2").exit_code, 0);
  auto again = Tool("-f csv2");
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.output.find("already holds a dataset"), std::string::npos) << again.output;
  auto other = Tool("-f csv");  // a different format over the same directory: still refused
  EXPECT_NE(other.exit_code, 0);
  auto over = Tool("-f csv --overwrite --verify");
  EXPECT_EQ(over.exit_code, 0) << over.output;
}

TEST_F(MnistDataSetupTool, PickleWritesImagesAndLabelsDirectoriesAndVerifies) {
  auto r = Tool("-f pickle -n 3 --verify");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("verified: every record matches the IDX source in order"),
            std::string::npos)
      << r.output;
}

TEST_F(MnistDataSetupTool, GzipOptionIsForTfrOnly) {
  auto r = Tool("-f csv --gzip");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("tfr format only"), std::string::npos) << r.output;
}

TEST_F(MnistDataSetupTool, MissingInputSaysHowToGetTheData) {
  auto r = RunCommand(kTool + " --input " + (tmp_ / "nothing") + " -o " + (tmp_ / "out"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("IDX file not found"), std::string::npos) << r.output;
}

TEST_F(MnistDataSetupTool, WrongMagicNamesTheFileAndByte) {
  // An images file where the labels file should be.
  IdxArray images;
  images.dims = {20, 28, 28};
  images.data.assign(20 * 784, 0);
  ASSERT_TRUE(WriteIdx(input_ + "/t10k-labels-idx1-ubyte", images).ok());
  auto r = Tool("");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("t10k-labels-idx1-ubyte: byte 0: wrong IDX magic 0x00000803 for MNIST "
                          "labels"),
            std::string::npos)
      << r.output;
}

TEST_F(MnistDataSetupTool, ImageLabelCountMismatch) {
  IdxArray labels;
  labels.dims = {19};
  labels.data.assign(19, 1);
  ASSERT_TRUE(WriteIdx(input_ + "/t10k-labels-idx1-ubyte", labels).ok());
  auto r = Tool("");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("image/label count mismatch"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("holds 20 images"), std::string::npos) << r.output;
}

TEST_F(MnistDataSetupTool, TruncatedGzipInput) {
  std::string path = input_ + "/train-images-idx3-ubyte.gz";
  std::string gz = testing::ReadAll(path);
  testing::WriteAll(path, gz.substr(0, gz.size() / 2));
  auto r = Tool("");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("train-images-idx3-ubyte.gz: truncated gzip stream"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("byte " + std::to_string(gz.size() / 2)), std::string::npos) << r.output;
}

TEST_F(MnistDataSetupTool, ReadFailsLoudlyOnAFlippedTfRecordByte) {
  ASSERT_EQ(Tool("-f tfr -n 2").exit_code, 0);
  std::string part = tmp_ / "out/test/part-00001";
  std::string data = testing::ReadAll(part);
  data[700] ^= 0x10;
  testing::WriteAll(part, data);
  auto r = Tool("-f tfr --read");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find(part + ": corrupt record at byte 0: data CRC mismatch"),
            std::string::npos)
      << r.output;
}

TEST_F(MnistDataSetupTool, ReadFailsLoudlyWhenContentsDisagreeWithTheSource) {
  ASSERT_EQ(Tool("-f csv2 -n 2").exit_code, 0);
  std::string part = tmp_ / "out/train/part-00001";
  std::string data = testing::ReadAll(part);
  size_t line2 = data.find('\n') + 1;  // second record of part 1 = dataset record 26
  ASSERT_EQ(data.substr(line2 + 1, 1), "|");
  data[line2] = data[line2] == '9' ? '8' : '9';  // a valid but wrong label
  testing::WriteAll(part, data);
  auto r = Tool("-f csv2 --read");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find(part + ": record 1 (dataset record 26) has label"), std::string::npos)
      << r.output;
}

TEST_F(MnistDataSetupTool, ReadRefusesAnIncompleteDatasetUnlessAllowed) {
  ASSERT_EQ(Tool("-f csv2 -n 2").exit_code, 0);
  ASSERT_EQ(std::remove((tmp_ / "out/test/_SUCCESS").c_str()), 0);
  auto r = Tool("-f csv2 --read");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("incomplete"), std::string::npos) << r.output;
  EXPECT_EQ(Tool("-f csv2 --read --allow-incomplete").exit_code, 0);
}

TEST_F(MnistDataSetupTool, ReadOfAShortDatasetReportsTheCounts) {
  ASSERT_EQ(Tool("-f csv2 -n 2").exit_code, 0);
  std::string part = tmp_ / "out/test/part-00001";
  std::string data = testing::ReadAll(part);
  testing::WriteAll(part, data.substr(0, data.find('\n') + 1));
  auto r = Tool("-f csv2 --read");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("holds 11 records but the IDX source has 20"), std::string::npos)
      << r.output;
}

TEST_F(MnistDataSetupTool, BadCsvRowNamesFileAndLine) {
  ASSERT_EQ(Tool("-f csv -n 1").exit_code, 0);
  std::string part = tmp_ / "out/test/images/part-00000";
  std::string data = testing::ReadAll(part);
  data.insert(data.find('\n'), ",1");
  testing::WriteAll(part, data);
  auto r = Tool("-f csv --read");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find(part + ": line 1: image has more than 784 values"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace tos
