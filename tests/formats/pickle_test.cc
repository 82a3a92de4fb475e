// The pickle subset and PySpark pickle files: round trips, bytes that real PySpark wrote
// (numpy 2 protocol 5 arrays, plain lists), and one test per kind of corruption or refusal.
#include "tos/pickle.h"

#include <gtest/gtest.h>

#include "test_util.h"
#include "tos/fs.h"
#include "tos/pyspark_pickle_file.h"

namespace tos {
namespace {

std::string Unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// PySpark 3.5 + numpy 2: pickle.dumps([np.arange(5, dtype=np.uint8)], protocol=5).
const char kNumpy2Array[] =
    "8005957c000000000000005d948c136e756d70792e5f636f72652e6e756d65726963948c0b5f66726f6d6275666665"
    "72949394289605000000000000000001020304948c056e756d7079948c0564747970659493948c02753194898887"
    "945294284b038c017c944e4e4e4affffffff4affffffff4b007494624b0585948c01439474945294612e";

TEST(PickleTest, ListOfIntsAndFloats) {
  // pickle.dumps([[1, 2, 3], [4.5, 5.0]], protocol=5) as PySpark wrote it.
  auto v =
      ParsePickle(Unhex("80059525000000000000005d94285d94284b014b024b03655d9428474012000000000000"
                        "47401400000000000065652e"));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ((*v)->kind, PickleValue::kList);
  ASSERT_EQ((*v)->items.size(), 2u);
  EXPECT_TRUE((*v)->items[0]->IsNumeric());
  EXPECT_EQ((*v)->items[0]->NumericAt(2), 3.0);
  EXPECT_EQ((*v)->items[1]->NumericAt(0), 4.5);
}

TEST(PickleTest, Numpy2Protocol5Array) {
  std::string data = Unhex(kNumpy2Array);
  auto v = ParsePickle(data);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ((*v)->items.size(), 1u);
  const PickleValue& a = *(*v)->items[0];
  EXPECT_EQ(a.kind, PickleValue::kArray);
  EXPECT_EQ(a.dtype, "|u1");
  EXPECT_EQ(a.shape, std::vector<int64_t>{5});
  EXPECT_EQ(a.NumericAt(4), 4.0);
}

TEST(PickleTest, WrittenArraysAndListsRoundTrip) {
  std::vector<std::string> elems(4);
  uint8_t px[3] = {1, 2, 250};
  AppendPickledArray(&elems[0], PickleDtype::kUint8, px, 3);
  double oh[3] = {0, 1, 0};
  AppendPickledArray(&elems[1], PickleDtype::kFloat64, oh, 3);
  int64_t ints[3] = {-5, 70000, int64_t{1} << 40};
  AppendPickledIntList(&elems[2], ints, 3);
  double fl[1] = {2.25};
  AppendPickledFloatList(&elems[3], fl, 1);
  auto v = ParsePickle(PickleBatch(elems));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  auto& items = (*v)->items;
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(items[0]->Describe(), "ndarray |u1 (3,)");
  EXPECT_EQ(items[0]->NumericAt(2), 250.0);
  EXPECT_EQ(items[1]->dtype, "<f8");
  EXPECT_EQ(items[1]->NumericAt(1), 1.0);
  EXPECT_EQ(items[2]->NumericAt(0), -5.0);
  EXPECT_EQ(items[2]->NumericAt(1), 70000.0);
  EXPECT_EQ(items[2]->NumericAt(2), static_cast<double>(int64_t{1} << 40));
  EXPECT_EQ(items[3]->NumericAt(0), 2.25);
}

TEST(PickleTest, UnknownCallableIsRefusedWithOffset) {
  // pickle of os.system("x"): c os\nsystem\n ( X 'x' t R .
  const char p[] =
      "\x80\x02"
      "cos\nsystem\n(X\x01\x00\x00\x00xtR.";
  auto v = ParsePickle(std::string_view(p, sizeof(p) - 1));
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("refusing to call os.system"), std::string::npos)
      << v.status().message();
  EXPECT_NE(v.status().message().find("byte 21"), std::string::npos) << v.status().message();
}

TEST(PickleTest, UnsupportedOpcodeIsNamed) {
  auto v = ParsePickle("\x80\x04}.");  // EMPTY_DICT
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("byte 2: unsupported pickle opcode 0x7d ('}')"),
            std::string::npos)
      << v.status().message();
}

TEST(PickleTest, TruncatedPickle) {
  std::string full = PickleBatch({});
  auto v = ParsePickle(full.substr(0, full.size() - 1));
  EXPECT_NE(v.status().message().find("ends without STOP"), std::string::npos);
  auto w =
      ParsePickle(std::string("\x80\x04X\x10\x00\x00\x00"
                              "abc",
                              10));
  EXPECT_NE(w.status().message().find("runs past the end"), std::string::npos)
      << w.status().message();
}

TEST(PickleTest, ArrayDataOfTheWrongSize) {
  std::string e;
  uint8_t px[3] = {1, 2, 3};
  AppendPickledArray(&e, PickleDtype::kUint8, px, 3);
  size_t shape = e.find(std::string("(K\x01K\x03", 5));
  ASSERT_NE(shape, std::string::npos);
  e[shape + 4] = 4;  // shape (4,) for 3 bytes
  auto v = ParsePickle(PickleBatch({e}));
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("needs 4 bytes of data, has 3"), std::string::npos)
      << v.status().message();
}

// A list that would contain itself (through BINPUT/BINGET and APPEND or APPENDS, directly or
// through a tuple or another list) is refused, naming the offset of the append: a reference
// cycle of shared_ptrs would never be freed.
TEST(PickleTest, ListThatAppendsItselfIsRefused) {
  struct Case {
    const char* what;
    std::string pickle;
    const char* at;
  };
  const Case cases[] = {
      {"APPEND of itself",
       std::string("\x80\x02]q\x00h\x00"
                   "a.",
                   9),
       "byte 7: "},
      {"APPENDS of itself",
       std::string("\x80\x02]q\x00(h\x00"
                   "e.",
                   10),
       "byte 8: "},
      {"through a tuple",
       std::string("\x80\x02]q\x00h\x00\x85"
                   "a.",
                   10),
       "byte 8: "},
      {"through another list",
       std::string("\x80\x02]q\x00]q\x01"
                   "ah\x01h\x00"
                   "a.",
                   15),
       "byte 13: "},
  };
  for (const Case& c : cases) {
    auto v = ParsePickle(c.pickle);
    ASSERT_FALSE(v.ok()) << c.what;
    EXPECT_NE(v.status().message().find(c.at), std::string::npos)
        << c.what << ": " << v.status().message();
    EXPECT_NE(v.status().message().find("contain itself"), std::string::npos)
        << c.what << ": " << v.status().message();
  }
}

TEST(PickleTest, SharedReferencesWithoutACycleAreKept) {
  // [a, a] with a = [] memoized once: two references to one list, no cycle.
  auto v = ParsePickle(std::string("\x80\x02(]q\x00h\x00l.", 10));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ((*v)->items.size(), 2u);
  EXPECT_EQ((*v)->items[0], (*v)->items[1]);
  // A shared list may still grow afterwards: (l, a) with l = [a, a], then a.append(1).
  auto w =
      ParsePickle(std::string("\x80\x02(]q\x00h\x00lh\x00K\x01"
                              "a\x86.",
                              16));
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_EQ((*w)->items.size(), 2u);
  const PickleRef& l = (*w)->items[0];
  ASSERT_EQ(l->items.size(), 2u);
  EXPECT_EQ(l->items[1], (*w)->items[1]);
  EXPECT_EQ(l->items[0]->NumericAt(0), 1.0);
}

TEST(PickleTest, DeeplyNestedTuplesAreFreedWithoutRecursion) {
  // (((...(),)...),) two million levels deep: three bytes of pickle per thousand levels of
  // recursive destructors would overflow the stack.
  constexpr size_t kDepth = 2000000;
  std::string p = "\x80\x02)" + std::string(kDepth, '\x85') + ".";
  auto v = ParsePickle(p);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ((*v)->Describe(), "tuple of 1");
}

TEST(PickleTest, ArrayShapeWhoseSizeWrapsIsRefused) {
  // shape (2^32, 2^32) of uint8 with no data: the element count 2^64 must not wrap to 0.
  std::string e;
  uint8_t px[1] = {1};
  AppendPickledArray(&e, PickleDtype::kUint8, px, 0);
  size_t state = e.find(std::string("(K\x01K\x00\x85", 6));  // BUILD state: version 1, (0,)
  ASSERT_NE(state, std::string::npos) << "array state not found";
  std::string big = std::string("\x8a\x05\x00\x00\x00\x00\x01", 7);  // LONG1 2^32
  e.replace(state + 3, 3, "(" + big + big + "t");
  auto v = ParsePickle(PickleBatch({e}));
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("larger than the whole pickle"), std::string::npos)
      << v.status().message();
}

// numpy.core.multiarray.scalar(numpy.dtype(name), raw) in protocol 2.
std::string NumpyScalar(const std::string& name, const std::string& raw) {
  std::string p =
      "\x80\x02"
      "cnumpy.core.multiarray\nscalar\n"
      "cnumpy\ndtype\n";
  p += "X" + std::string(1, static_cast<char>(name.size())) + std::string(3, '\0') + name;
  p += "\x85R";
  p += "C" + std::string(1, static_cast<char>(raw.size())) + raw;
  p += "\x86R.";
  return p;
}

TEST(PickleTest, NumpyIntegerScalarsAreExact) {
  // int64 max does not survive a double (it rounds to 2^63, which no int64 holds).
  auto v = ParsePickle(NumpyScalar("i8", std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8)));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ((*v)->kind, PickleValue::kInt);
  EXPECT_EQ((*v)->i, INT64_MAX);
  auto w = ParsePickle(NumpyScalar("i1", "\xff"));
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ((*w)->i, -1);
  auto u = ParsePickle(NumpyScalar("u8", std::string(8, '\xff')));
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.status().message().find("does not fit 64-bit signed"), std::string::npos)
      << u.status().message();
}

class PickleFileTest : public ::testing::Test {
 protected:
  std::string Write(size_t n, size_t batch = 10) {
    std::string path = dir_ / "part-00000";
    auto fs = GetFileSystem(path);
    auto file = (*fs)->NewWritableFile(path);
    auto w = PySparkPickleWriter::Create(std::move(*file), batch);
    for (size_t i = 0; i < n; ++i) {
      std::string e;
      int64_t v = static_cast<int64_t>(i);
      AppendPickledIntList(&e, &v, 1);
      EXPECT_TRUE((*w)->Add(e).ok());
    }
    EXPECT_TRUE((*w)->Close().ok());
    return path;
  }
  Status ReadAll(const std::string& path, size_t* n) {
    TOS_ASSIGN_OR_RETURN(auto r, PySparkPickleReader::Open(path));
    *n = 0;
    for (;;) {
      PickleRef e;
      TOS_ASSIGN_OR_RETURN(bool more, r->Next(&e));
      if (!more) return Status::OK();
      if (e->NumericAt(0) != static_cast<double>(*n)) return DataLoss("element out of order");
      ++*n;
    }
  }
  testing::TempDir dir_;
};

TEST_F(PickleFileTest, RoundTripAcrossSyncMarkers) {
  std::string path = Write(50000, 7);  // > 100 KiB: the writer puts sync markers in
  size_t n = 0;
  ASSERT_TRUE(ReadAll(path, &n).ok());
  EXPECT_EQ(n, 50000u);
  std::string bytes = testing::ReadAll(path);
  EXPECT_NE(bytes.find(std::string("\xff\xff\xff\xff", 4) + bytes.substr(79, 16)),
            std::string::npos);
}

TEST_F(PickleFileTest, NotASequenceFile) {
  testing::WriteAll(dir_ / "x", "hello world");
  auto r = PySparkPickleReader::Open(dir_ / "x");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a Hadoop SequenceFile"), std::string::npos);
}

TEST_F(PickleFileTest, CompressedIsRefused) {
  std::string bytes = testing::ReadAll(Write(5));
  size_t flags = 4 + 1 + 33 + 1 + 34;  // after "SEQ\6" and the two class names
  bytes[flags] = 1;
  testing::WriteAll(dir_ / "c", bytes);
  auto r = PySparkPickleReader::Open(dir_ / "c");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("compressed SequenceFile"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("byte 73: record-compressed"), std::string::npos)
      << r.status().message();
}

TEST_F(PickleFileTest, OtherWritablesAreRefused) {
  std::string bytes = testing::ReadAll(Write(5));
  bytes.replace(bytes.find("NullWritable"), 12, "LongWritable");
  testing::WriteAll(dir_ / "k", bytes);
  auto r = PySparkPickleReader::Open(dir_ / "k");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("org.apache.hadoop.io.LongWritable"), std::string::npos);
}

TEST_F(PickleFileTest, TruncatedRecordNamesItsOffset) {
  std::string bytes = testing::ReadAll(Write(25));
  testing::WriteAll(dir_ / "t", bytes.substr(0, bytes.size() - 10));
  size_t n = 0;
  Status st = ReadAll(dir_ / "t", &n);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("byte 95: record of"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("truncated"), std::string::npos) << st.message();
}

TEST_F(PickleFileTest, CorruptJavaSerialization) {
  std::string bytes = testing::ReadAll(Write(3));
  bytes[95 + 12] = 'X';  // the 0xACED magic of the first value
  testing::WriteAll(dir_ / "j", bytes);
  size_t n = 0;
  Status st = ReadAll(dir_ / "j", &n);
  EXPECT_NE(st.message().find("not a Java serialization stream"), std::string::npos)
      << st.message();
}

TEST_F(PickleFileTest, BadSyncMarker) {
  std::string path = Write(50000, 7);
  std::string bytes = testing::ReadAll(path);
  size_t at = bytes.find(std::string("\xff\xff\xff\xff", 4), 95);
  ASSERT_NE(at, std::string::npos);
  bytes[at + 4] ^= 1;
  testing::WriteAll(dir_ / "s", bytes);
  size_t n = 0;
  Status st = ReadAll(dir_ / "s", &n);
  EXPECT_NE(st.message().find("sync marker does not match"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace tos
