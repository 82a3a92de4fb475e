// Hadoop client configuration (core-site.xml, hdfs-site.xml), the namenode addresses an
// hdfs:// URI leads to, TensorFlowOnSpark's path rules against fs.defaultFS, and the atomic
// whole-file write.
#include "io/hadoop_conf.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "io/memory_fs.h"
#include "io/webhdfs_fs.h"
#include "tos/fs.h"

namespace tos {
namespace {

std::string Site(const std::string& props) {
  return "<configuration>" + props + "</configuration>";
}
std::string Prop(const std::string& name, const std::string& value) {
  return "<property><name>" + name + "</name><value>" + value + "</value></property>";
}

TEST(HadoopConfigTest, ValuesAreTrimmedAndLaterFilesWin) {
  HadoopConfig conf;
  ASSERT_TRUE(conf.AddSiteXml(Site(Prop(" fs.defaultFS ", "\n  hdfs://nn:8020 \n")), "a").ok());
  EXPECT_EQ(conf.Get("fs.defaultFS"), "hdfs://nn:8020");
  ASSERT_TRUE(conf.AddSiteXml(Site(Prop("fs.defaultFS", "hdfs://other:9000")), "b").ok());
  EXPECT_EQ(conf.Get("fs.defaultFS"), "hdfs://other:9000");
  EXPECT_EQ(conf.Get("missing", "fallback"), "fallback");
}

TEST(HadoopConfigTest, MalformedXmlNamesTheFileAndOffset) {
  HadoopConfig conf;
  Status s =
      conf.AddSiteXml("<configuration><property><name>x</name>", "/etc/hadoop/core-site.xml");
  ASSERT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("/etc/hadoop/core-site.xml: not valid XML at byte"), std::string::npos)
      << s.message();
  s = conf.AddSiteXml("<properties/>", "x.xml");
  EXPECT_NE(s.message().find("not a Hadoop configuration"), std::string::npos) << s.message();
}

TEST(HadoopConfigTest, RpcAddressLeadsToItsHttpAddress) {
  HadoopConfig conf;
  ASSERT_TRUE(conf.AddSiteXml(Site(Prop("dfs.namenode.rpc-address", "10.0.0.1:8020") +
                                   Prop("dfs.namenode.http-address", "10.0.0.1:50070")),
                              "hdfs-site.xml")
                  .ok());
  auto nns = conf.NamenodeHttpAddresses("10.0.0.1:8020");
  ASSERT_TRUE(nns.ok()) << nns.status().ToString();
  EXPECT_EQ(*nns, std::vector<std::string>{"10.0.0.1:50070"});
  // An unknown namenode: its host with Hadoop 3's default HTTP port.
  nns = conf.NamenodeHttpAddresses("other:8020");
  ASSERT_TRUE(nns.ok());
  EXPECT_EQ(*nns, std::vector<std::string>{"other:9870"});
}

// A single namenode's hdfs-site.xml may set only its HTTP address: its RPC address is then
// fs.defaultFS's, as Hadoop's defaults have it.
TEST(HadoopConfigTest, HttpAddressWithoutRpcAddressIsTheDefaultFsNamenodes) {
  HadoopConfig conf;
  ASSERT_TRUE(conf.AddSiteXml(Site(Prop("fs.defaultFS", "hdfs://nn1:8020")), "core-site.xml").ok());
  ASSERT_TRUE(
      conf.AddSiteXml(Site(Prop("dfs.namenode.http-address", "nn1:50070")), "hdfs-site.xml").ok());
  auto nns = conf.NamenodeHttpAddresses("");  // hdfs:///path: the default file system
  ASSERT_TRUE(nns.ok()) << nns.status().ToString();
  EXPECT_EQ(*nns, std::vector<std::string>{"nn1:50070"});
  nns = conf.NamenodeHttpAddresses("nn1:8020");
  ASSERT_TRUE(nns.ok());
  EXPECT_EQ(*nns, std::vector<std::string>{"nn1:50070"});
  // Another namenode is not the one that address belongs to.
  nns = conf.NamenodeHttpAddresses("nn2:8020");
  ASSERT_TRUE(nns.ok());
  EXPECT_EQ(*nns, std::vector<std::string>{"nn2:9870"});
  // A wildcard host (Hadoop's own default is 0.0.0.0:9870) means the namenode's host.
  ASSERT_TRUE(
      conf.AddSiteXml(Site(Prop("dfs.namenode.http-address", "0.0.0.0:50070")), "hdfs-site.xml")
          .ok());
  nns = conf.NamenodeHttpAddresses("");
  ASSERT_TRUE(nns.ok());
  EXPECT_EQ(*nns, std::vector<std::string>{"nn1:50070"});
}

TEST(HadoopConfigTest, HaNameserviceListsItsNamenodesInOrder) {
  HadoopConfig conf;
  ASSERT_TRUE(conf.AddSiteXml(Site(Prop("fs.defaultFS", "hdfs://ns1")), "core-site.xml").ok());
  ASSERT_TRUE(conf.AddSiteXml(Site(Prop("dfs.nameservices", "ns0, ns1") +
                                   Prop("dfs.ha.namenodes.ns1", "b,a") +
                                   Prop("dfs.namenode.http-address.ns1.a", "h1:1") +
                                   Prop("dfs.namenode.http-address.ns1.b", "h2")),
                              "hdfs-site.xml")
                  .ok());
  auto nns = conf.NamenodeHttpAddresses("");  // fs.defaultFS's authority
  ASSERT_TRUE(nns.ok()) << nns.status().ToString();
  EXPECT_EQ(*nns, (std::vector<std::string>{"h2:9870", "h1:1"}));
  // A namenode listed without its address is a configuration error naming the key.
  ASSERT_TRUE(conf.AddSiteXml(Site(Prop("dfs.ha.namenodes.ns1", "a,c")), "hdfs-site.xml").ok());
  nns = conf.NamenodeHttpAddresses("ns1");
  ASSERT_FALSE(nns.ok());
  EXPECT_NE(nns.status().message().find("dfs.namenode.http-address.ns1.c"), std::string::npos);
}

TEST(HadoopConfigTest, HdfsUriWithoutAuthorityNeedsAnHdfsDefaultFs) {
  HadoopConfig conf;
  auto nns = conf.NamenodeHttpAddresses("");
  ASSERT_FALSE(nns.ok());
  EXPECT_NE(nns.status().message().find("HADOOP_CONF_DIR"), std::string::npos);
}

TEST(HdfsUriTest, SplitsAuthorityAndPath) {
  std::string authority, path;
  ASSERT_TRUE(SplitHdfsUri("hdfs://nn:8020/user/me/x/", &authority, &path));
  EXPECT_EQ(authority, "nn:8020");
  EXPECT_EQ(path, "/user/me/x");
  ASSERT_TRUE(SplitHdfsUri("hdfs://ns1", &authority, &path));
  EXPECT_EQ(authority, "ns1");
  EXPECT_EQ(path, "/");
  EXPECT_FALSE(SplitHdfsUri("/local/path", &authority, &path));
}

class DefaultFsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    unsetenv("TOS_DEFAULT_FS");
    unsetenv("HADOOP_USER_NAME");
  }
};

TEST_F(DefaultFsTest, RelativeAndAbsolutePathsFollowTensorFlowOnSparksRules) {
  setenv("TOS_DEFAULT_FS", "hdfs://nn:8020/", 1);
  setenv("HADOOP_USER_NAME", "alice", 1);
  EXPECT_EQ(*ResolvePath("mnist/csv"), "hdfs://nn:8020/user/alice/mnist/csv");
  EXPECT_EQ(*ResolvePath("/data/x"), "hdfs://nn:8020/data/x");
  EXPECT_EQ(*ResolvePath("file:///tmp/x"), "file:///tmp/x");
  EXPECT_EQ(*ResolvePath("webhdfs://h:9870/y"), "webhdfs://h:9870/y");
  setenv("TOS_DEFAULT_FS", "file:///", 1);
  EXPECT_EQ(*ResolvePath("mnist/csv"), "mnist/csv");
  EXPECT_EQ(*ResolvePath("/data/x"), "/data/x");
}

TEST(WriteFileAtomicallyTest, ReplacesTheWholeFileAndLeavesNoTemporary) {
  RegisterFileSystem("atomictest", std::make_shared<MemoryFileSystem>());
  FileSystem* fs = *GetFileSystem("atomictest://d");
  ASSERT_TRUE(fs->CreateDirs("atomictest://d").ok());
  ASSERT_TRUE(WriteFileAtomically("atomictest://d/f", "old contents").ok());
  ASSERT_TRUE(WriteFileAtomically("atomictest://d/f", "new").ok());
  EXPECT_EQ(*ReadFileToString("atomictest://d/f"), "new");
  auto entries = fs->ListDir("atomictest://d");
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].name, "f");
  // A missing parent is an error naming the target; nothing is left behind.
  Status s = WriteFileAtomically("atomictest://missing/f", "x");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("atomictest://missing/f"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace tos
