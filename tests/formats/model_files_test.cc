#include "formats/model_files.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace tos {
namespace {

CheckpointHeader TwoTensorsAndABlob() {
  CheckpointHeader h;
  h.global_step = 600;
  h.model_type = "mlp";
  h.meta_json = R"({"ps_optimizer":{"type":"adam"}})";
  h.entries = {{"w", false, "float32", {2, 3}, 0, 24},
               {"step", false, "int64", {}, 24, 8},
               {"optimizer", true, "", {}, 32, 5}};
  return h;
}
const std::string kPayload = std::string(32, '\x07') + "state";

// A file whose header is `header`, with a correct digest, to reach the header's checks.
std::string WithHeader(const std::string& header) {
  return FrameCheckpointFile(header, {kPayload});
}

std::string Header(const nlohmann::json& entry) {
  return nlohmann::json{{"format", "tos-checkpoint-v1"},
                        {"global_step", 5},
                        {"entries", nlohmann::json::array({entry})}}
      .dump();
}

Status HeaderStatus(const std::string& header) {
  std::string_view payload;
  return ParseCheckpointFile(WithHeader(header), "/m/ckpt-5.tosckpt", &payload).status();
}

TEST(ModelFilesTest, ACheckpointFileRoundTrips) {
  const CheckpointHeader h = TwoTensorsAndABlob();
  const std::string file = SerializeCheckpointFile(h, {kPayload});
  std::string_view payload;
  auto back = ParseCheckpointFile(file, "ckpt", &payload);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(payload, kPayload);
  EXPECT_EQ(back->global_step, 600);
  EXPECT_EQ(back->model_type, "mlp");
  EXPECT_EQ(nlohmann::json::parse(back->meta_json), nlohmann::json::parse(h.meta_json));
  ASSERT_EQ(back->entries.size(), 3u);
  EXPECT_EQ(back->entries[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(back->entries[1].dtype, "int64");
  EXPECT_TRUE(back->entries[2].is_blob);
  EXPECT_EQ(back->entries[2].offset, 32u);
}

TEST(ModelFilesTest, AnyChangedByteIsADigestMismatchNamingTheFile) {
  const std::string file = SerializeCheckpointFile(TwoTensorsAndABlob(), {kPayload});
  for (size_t at : {size_t{20}, file.size() / 2, file.size() - 17}) {
    std::string damaged = file;
    damaged[at] ^= 0x10;
    std::string_view payload;
    Status st = ParseCheckpointFile(damaged, "/m/ckpt-600.tosckpt", &payload).status();
    EXPECT_EQ(st.code(), StatusCode::kDataLoss);
    EXPECT_NE(st.message().find("/m/ckpt-600.tosckpt: SHA-256 mismatch"), std::string::npos)
        << at << ": " << st.ToString();
  }
}

TEST(ModelFilesTest, AHeaderThatLiesIsRefusedNamingTheEntryAndField) {
  using nlohmann::json;
  const json good = {{"name", "w"},     {"kind", "tensor"}, {"dtype", "float32"},
                     {"shape", {2, 3}}, {"offset", 0},      {"nbytes", 24}};
  EXPECT_TRUE(HeaderStatus(Header(good)).ok()) << HeaderStatus(Header(good)).ToString();
  struct Case {
    const char* field;
    json value;
    const char* says;
  } cases[] = {
      {"shape", {2, -3}, "\"shape\" must be a list of sizes 0 or more"},
      {"shape", {int64_t{1} << 62, 4}, "shape needs more bytes than the 37-byte payload"},
      {"shape", {2, 2}, "make 16 bytes, the entry has 24"},
      {"dtype", "complex64", "unknown dtype 'complex64'"},
      {"offset", 30, "lie outside the 37-byte payload"},
      {"nbytes", "24", "\"nbytes\" must be an integer 0 or more, not \"24\""},
      {"kind", "sparse", "kind 'sparse', expected tensor or blob"},
  };
  for (const Case& c : cases) {
    json e = good;
    e[c.field] = c.value;
    Status st = HeaderStatus(Header(e));
    EXPECT_EQ(st.code(), StatusCode::kDataLoss) << c.field;
    EXPECT_NE(st.message().find("/m/ckpt-5.tosckpt: header: entry 0 ('w')"), std::string::npos)
        << st.ToString();
    EXPECT_NE(st.message().find(c.says), std::string::npos) << st.ToString();
  }
  Status step = HeaderStatus(json{
      {"format", "tos-checkpoint-v1"},
      {"global_step", "5"},
      {"entries", json::array()}}.dump());
  EXPECT_NE(step.message().find("\"global_step\" must be an integer"), std::string::npos)
      << step.ToString();
  EXPECT_NE(HeaderStatus("[1,2]").message().find("not a JSON object"), std::string::npos);
}

ExportManifest AManifest() {
  ExportManifest m;
  m.model_type = "mlp";
  m.input_shape = {784};
  m.global_step = 600;
  m.model_pt_bytes = 1234;
  m.model_pt_sha256 = Sha256Hex("model bytes");
  return m;
}

TEST(ModelFilesTest, AnExportManifestRoundTrips) {
  auto back = ParseExportManifest(ExportManifestToJson(AManifest()), "e/model.json");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->model_type, "mlp");
  EXPECT_EQ(back->input_shape, (std::vector<int64_t>{784}));
  EXPECT_EQ(back->global_step, 600);
  EXPECT_EQ(back->model_pt_bytes, 1234u);
  EXPECT_EQ(back->model_pt_sha256, Sha256Hex("model bytes"));
  EXPECT_DOUBLE_EQ(back->input_scale, 1.0 / 255.0);
}

TEST(ModelFilesTest, AManifestWithAFieldOfTheWrongTypeIsRefusedNamingIt) {
  // Before, such a model.json (valid JSON) threw a JSON library exception out of the loader.
  auto j = nlohmann::json::parse(ExportManifestToJson(AManifest()));
  for (const char* field : {"model_pt_bytes", "global_step", "model_type", "input_scale"}) {
    auto bad = j;
    bad[field] = field == std::string("model_type") ? nlohmann::json(7) : nlohmann::json("x");
    Status st = ParseExportManifest(bad.dump(), "/m/export/model.json").status();
    EXPECT_EQ(st.code(), StatusCode::kDataLoss) << field;
    EXPECT_NE(st.message().find(std::string("/m/export/model.json: \"") + field + "\" must be"),
              std::string::npos)
        << st.ToString();
  }
  auto old = j;
  old["format"] = "tos-export-v1";
  EXPECT_NE(ParseExportManifest(old.dump(), "m.json").status().message().find("re-export"),
            std::string::npos);
  auto no_digest = j;
  no_digest.erase("model_pt_sha256");
  EXPECT_NE(ParseExportManifest(no_digest.dump(), "m.json")
                .status()
                .message()
                .find("no \"model_pt_sha256\""),
            std::string::npos);
}

}  // namespace
}  // namespace tos
