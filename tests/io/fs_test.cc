#include "tos/fs.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "io/memory_fs.h"
#include "test_util.h"

namespace tos {
namespace {

using testing::TempDir;

TEST(UriTest, SchemeOfPlainPathIsEmpty) {
  EXPECT_EQ(UriScheme("/a/b"), "");
  EXPECT_EQ(UriScheme("a/b"), "");
  EXPECT_EQ(UriScheme("file:///a"), "file");
  EXPECT_EQ(UriScheme("hdfs://nn:8020/x"), "hdfs");
  EXPECT_EQ(UriScheme("weird path://x"), "");
}

TEST(UriTest, JoinPathPutsExactlyOneSlash) {
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "/b"), "a/b");
  EXPECT_EQ(JoinPath("", "b"), "b");
  EXPECT_EQ(JoinPath("mem://", "x"), "mem://x");
  EXPECT_EQ(Basename("dir/part-00001"), "part-00001");
  EXPECT_EQ(Basename("dir/sub/"), "sub");
}

TEST(FileSystemTest, UnknownSchemeIsNotFound) {
  auto fs = GetFileSystem("nosuchscheme://x/y");
  ASSERT_FALSE(fs.ok());
  EXPECT_EQ(fs.status().code(), StatusCode::kNotFound);
  EXPECT_NE(fs.status().message().find("nosuchscheme"), std::string::npos);
}

// The same operations against the local file system (plain and file:// paths) and memory.
class FileSystemContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    static bool registered = [] {
      RegisterFileSystem("memtest", std::make_shared<MemoryFileSystem>());
      return true;
    }();
    (void)registered;
    if (GetParam() == "local")
      root_ = tmp_.path();
    else if (GetParam() == "file")
      root_ = "file://" + tmp_.path();
    else
      root_ = "memtest://root" + std::to_string(counter_++);
  }
  TempDir tmp_;
  std::string root_;
  static inline int counter_ = 0;
};

TEST_P(FileSystemContract, WriteReadRenameListDelete) {
  TOS_ASSERT_OK_AND_ASSIGN(FileSystem * fs, GetFileSystem(root_));
  std::string dir = JoinPath(root_, "a/b");
  TOS_ASSERT_OK(fs->CreateDirs(dir));
  TOS_ASSERT_OK(fs->CreateDirs(dir));  // idempotent
  TOS_ASSERT_OK(WriteStringToFile(JoinPath(dir, "f1"), "hello"));
  TOS_ASSERT_OK_AND_ASSIGN(std::string got, ReadFileToString(JoinPath(dir, "f1")));
  EXPECT_EQ(got, "hello");
  TOS_ASSERT_OK_AND_ASSIGN(uint64_t size, fs->GetFileSize(JoinPath(dir, "f1")));
  EXPECT_EQ(size, 5u);
  TOS_ASSERT_OK(fs->RenameFile(JoinPath(dir, "f1"), JoinPath(dir, "f2")));
  TOS_ASSERT_OK_AND_ASSIGN(bool e1, fs->Exists(JoinPath(dir, "f1")));
  TOS_ASSERT_OK_AND_ASSIGN(bool e2, fs->Exists(JoinPath(dir, "f2")));
  EXPECT_FALSE(e1);
  EXPECT_TRUE(e2);
  TOS_ASSERT_OK(fs->CreateDirs(JoinPath(dir, "sub")));
  TOS_ASSERT_OK_AND_ASSIGN(auto entries, fs->ListDir(dir));
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].name, "f2");
  EXPECT_FALSE(entries[0].is_dir);
  EXPECT_EQ(entries[1].name, "sub");
  EXPECT_TRUE(entries[1].is_dir);
  TOS_ASSERT_OK_AND_ASSIGN(bool is_dir, fs->IsDirectory(JoinPath(dir, "sub")));
  EXPECT_TRUE(is_dir);
  EXPECT_FALSE(fs->DeleteDir(dir).ok());  // not empty
  TOS_ASSERT_OK(fs->DeleteFile(JoinPath(dir, "f2")));
  TOS_ASSERT_OK(fs->DeleteDir(JoinPath(dir, "sub")));
  TOS_ASSERT_OK(fs->DeleteDir(dir));
  TOS_ASSERT_OK_AND_ASSIGN(bool gone, fs->Exists(dir));
  EXPECT_FALSE(gone);
}

TEST_P(FileSystemContract, MissingFileIsNotFoundNamingThePath) {
  TOS_ASSERT_OK_AND_ASSIGN(FileSystem * fs, GetFileSystem(root_));
  auto f = fs->NewSequentialFile(JoinPath(root_, "missing"));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
  EXPECT_NE(f.status().message().find("missing"), std::string::npos);
}

TEST_P(FileSystemContract, LargeAppendsArriveIntact) {
  std::string data(3 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + i / 4096);
  TOS_ASSERT_OK_AND_ASSIGN(FileSystem * fs, GetFileSystem(root_));
  TOS_ASSERT_OK(fs->CreateDirs(root_));
  std::string path = JoinPath(root_, "big");
  TOS_ASSERT_OK_AND_ASSIGN(auto w, fs->NewWritableFile(path));
  TOS_ASSERT_OK(w->Append(std::string_view(data).substr(0, 10)));
  TOS_ASSERT_OK(w->Append(std::string_view(data).substr(10, 2 << 20)));
  TOS_ASSERT_OK(w->Append(std::string_view(data).substr(10 + (2 << 20))));
  TOS_ASSERT_OK(w->Close());
  TOS_ASSERT_OK_AND_ASSIGN(std::string got, ReadFileToString(path));
  EXPECT_TRUE(got == data);
}

TEST_P(FileSystemContract, ListDirNamesOnlyDirectChildren) {
  TOS_ASSERT_OK_AND_ASSIGN(FileSystem * fs, GetFileSystem(root_));
  const std::string d = JoinPath(root_, "d");
  TOS_ASSERT_OK(fs->CreateDirs(JoinPath(d, "sub/deeper")));
  TOS_ASSERT_OK(fs->CreateDirs(JoinPath(root_, "d2")));
  TOS_ASSERT_OK(WriteStringToFile(JoinPath(d, "x"), "1"));
  TOS_ASSERT_OK(WriteStringToFile(JoinPath(d, "sub/y"), "2"));
  TOS_ASSERT_OK(WriteStringToFile(JoinPath(d, "sub/deeper/z"), "3"));
  TOS_ASSERT_OK(WriteStringToFile(JoinPath(root_, "d2/w"), "4"));
  TOS_ASSERT_OK(WriteStringToFile(JoinPath(root_, "d.txt"), "5"));
  TOS_ASSERT_OK(WriteStringToFile(JoinPath(root_, "dd"), "6"));
  auto names = [&](const std::string& dir) {
    std::vector<std::string> out;
    auto entries = fs->ListDir(dir);
    EXPECT_TRUE(entries.ok()) << entries.status().ToString();
    if (entries.ok()) {
      for (const auto& e : *entries) out.push_back(e.name + (e.is_dir ? "/" : ""));
    }
    return out;
  };
  EXPECT_EQ(names(d), (std::vector<std::string>{"sub/", "x"}));
  EXPECT_EQ(names(d + "/"), (std::vector<std::string>{"sub/", "x"}));
  EXPECT_EQ(names(JoinPath(d, "sub")), (std::vector<std::string>{"deeper/", "y"}));
  EXPECT_EQ(names(root_), (std::vector<std::string>{"d/", "d.txt", "d2/", "dd"}));
}

INSTANTIATE_TEST_SUITE_P(Schemes, FileSystemContract, ::testing::Values("local", "file", "mem"));

TEST(MemoryFileSystemTest, RootListsTopLevelEntries) {
  auto m = std::make_shared<MemoryFileSystem>();
  RegisterFileSystem("memroot", m);
  TOS_ASSERT_OK(m->CreateDirs("memroot://a/b"));
  m->SetContents("memroot://f", "x");
  m->SetContents("memroot://a/g", "y");
  TOS_ASSERT_OK_AND_ASSIGN(auto entries, m->ListDir("memroot://"));
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].name, "a");
  EXPECT_TRUE(entries[0].is_dir);
  EXPECT_EQ(entries[1].name, "f");
  EXPECT_FALSE(entries[1].is_dir);
}

TEST(LocalFileSystemTest, OpeningADirectoryAsAFileIsRefused) {
  TempDir tmp;
  TOS_ASSERT_OK_AND_ASSIGN(FileSystem * fs, GetFileSystem(tmp.path()));
  auto f = fs->NewSequentialFile(tmp.path());
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("directory"), std::string::npos);
}

TEST(LocalFileSystemTest, RegistryIsSafeFromManyThreads) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) ok += GetFileSystem("/x").ok();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1600);
}

}  // namespace
}  // namespace tos
