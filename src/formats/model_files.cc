#include "formats/model_files.h"

#include <openssl/sha.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

namespace tos {
namespace {

using nlohmann::json;

constexpr char kMagic[] = "TOSCKPT1";
constexpr char kEndMagic[] = "TOSCKEND";
constexpr size_t kMagicLen = 8;
constexpr size_t kTrailerLen = SHA256_DIGEST_LENGTH + kMagicLen;
constexpr const char* kCheckpointFormat = "tos-checkpoint-v1";

void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// The typed fields of a JSON object; each failure names the field and what was expected.
class Fields {
 public:
  Fields(const json& j, std::string where) : j_(j), where_(std::move(where)) {}

  Status String(const char* key, std::string* out, bool required = true) const {
    const json* v = Find(key);
    if (v == nullptr) return required ? Missing(key) : Status::OK();
    if (!v->is_string()) return Wrong(key, "a string", *v);
    *out = v->get<std::string>();
    return Status::OK();
  }
  Status Int(const char* key, int64_t* out, bool required = true) const {
    const json* v = Find(key);
    if (v == nullptr) return required ? Missing(key) : Status::OK();
    if (!v->is_number_integer() || (v->is_number_unsigned() && v->get<uint64_t>() > INT64_MAX))
      return Wrong(key, "an integer", *v);
    *out = v->get<int64_t>();
    return Status::OK();
  }
  Status Uint(const char* key, uint64_t* out) const {
    const json* v = Find(key);
    if (v == nullptr) return Missing(key);
    if (!v->is_number_unsigned()) return Wrong(key, "an integer 0 or more", *v);
    *out = v->get<uint64_t>();
    return Status::OK();
  }
  Status Number(const char* key, double* out) const {
    const json* v = Find(key);
    if (v == nullptr) return Missing(key);
    if (!v->is_number()) return Wrong(key, "a number", *v);
    *out = v->get<double>();
    return Status::OK();
  }
  Status Dims(const char* key, std::vector<int64_t>* out) const {
    const json* v = Find(key);
    if (v == nullptr) return Missing(key);
    if (!v->is_array()) return Wrong(key, "a list of sizes", *v);
    out->clear();
    for (const json& d : *v) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > INT64_MAX)
        return Wrong(key, "a list of sizes 0 or more", *v);
      out->push_back(d.get<int64_t>());
    }
    return Status::OK();
  }

 private:
  const json* Find(const char* key) const {
    auto it = j_.find(key);
    return it == j_.end() ? nullptr : &*it;
  }
  Status Missing(const char* key) const { return DataLoss(where_ + ": no \"" + key + "\""); }
  Status Wrong(const char* key, const char* expected, const json& v) const {
    std::string text = v.dump();
    if (text.size() > 40) text = text.substr(0, 40) + "...";
    return DataLoss(where_ + ": \"" + key + "\" must be " + expected + ", not " + text);
  }

  const json& j_;
  std::string where_;
};

Status ParseEntry(const json& e, const std::string& where, uint64_t payload_size,
                  CheckpointEntry* out) {
  if (!e.is_object()) return DataLoss(where + " is not a JSON object");
  Fields f(e, where);
  TOS_RETURN_IF_ERROR(f.String("name", &out->name));
  const std::string named = where + " ('" + out->name + "')";
  Fields g(e, named);
  std::string kind;
  TOS_RETURN_IF_ERROR(g.String("kind", &kind));
  if (kind != "tensor" && kind != "blob")
    return DataLoss(named + ": kind '" + kind + "', expected tensor or blob");
  out->is_blob = kind == "blob";
  TOS_RETURN_IF_ERROR(g.Uint("offset", &out->offset));
  TOS_RETURN_IF_ERROR(g.Uint("nbytes", &out->nbytes));
  if (out->offset > payload_size || out->nbytes > payload_size - out->offset) {
    return DataLoss(named + ": bytes " + std::to_string(out->offset) + " + " +
                    std::to_string(out->nbytes) + " lie outside the " +
                    std::to_string(payload_size) + "-byte payload");
  }
  if (out->is_blob) return Status::OK();
  TOS_RETURN_IF_ERROR(g.String("dtype", &out->dtype));
  const size_t elem = CheckpointDtypeSize(out->dtype);
  if (elem == 0) return DataLoss(named + ": unknown dtype '" + out->dtype + "'");
  TOS_RETURN_IF_ERROR(g.Dims("shape", &out->shape));
  // numel x element size, refusing any product past the payload (no overflow on the way).
  uint64_t bytes = elem;
  for (int64_t d : out->shape) {
    if (d != 0 && bytes > payload_size / static_cast<uint64_t>(d)) {
      return DataLoss(named + ": shape needs more bytes than the " + std::to_string(payload_size) +
                      "-byte payload");
    }
    bytes *= static_cast<uint64_t>(d);
  }
  if (bytes != out->nbytes) {
    return DataLoss(named + ": shape and dtype " + out->dtype + " make " + std::to_string(bytes) +
                    " bytes, the entry has " + std::to_string(out->nbytes));
  }
  return Status::OK();
}

}  // namespace

size_t CheckpointDtypeSize(std::string_view dtype) {
  if (dtype == "float32" || dtype == "int32") return 4;
  if (dtype == "float64" || dtype == "int64") return 8;
  if (dtype == "uint8") return 1;
  return 0;
}

std::string SerializeCheckpointFile(const CheckpointHeader& header,
                                    const std::vector<std::string_view>& pieces) {
  json h;
  h["format"] = kCheckpointFormat;
  h["global_step"] = header.global_step;
  h["model_type"] = header.model_type;
  json meta = json::parse(header.meta_json, nullptr, false);
  h["meta"] = meta.is_object() ? meta : json::object();
  json entries = json::array();
  for (const CheckpointEntry& e : header.entries) {
    if (e.is_blob) {
      entries.push_back(
          {{"name", e.name}, {"kind", "blob"}, {"offset", e.offset}, {"nbytes", e.nbytes}});
    } else {
      entries.push_back({{"name", e.name},
                         {"kind", "tensor"},
                         {"dtype", e.dtype},
                         {"shape", e.shape},
                         {"offset", e.offset},
                         {"nbytes", e.nbytes}});
    }
  }
  h["entries"] = entries;
  return FrameCheckpointFile(h.dump(), pieces);
}

std::string FrameCheckpointFile(std::string_view header_json,
                                const std::vector<std::string_view>& pieces) {
  size_t payload = 0;
  for (std::string_view p : pieces) payload += p.size();
  std::string out;
  out.reserve(kMagicLen + 8 + header_json.size() + payload + kTrailerLen);
  out.append(kMagic, kMagicLen);
  PutU64(&out, header_json.size());
  out += header_json;
  for (std::string_view p : pieces) out += p;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(out.data()), out.size(), digest);
  out.append(reinterpret_cast<const char*>(digest), sizeof digest);
  out.append(kEndMagic, kMagicLen);
  return out;
}

Result<CheckpointHeader> ParseCheckpointFile(std::string_view bytes, const std::string& what,
                                             std::string_view* payload) {
  auto bad = [&](const std::string& m) { return DataLoss(what + ": " + m); };
  if (bytes.size() < kMagicLen + 8 + kTrailerLen)
    return bad("truncated checkpoint (" + std::to_string(bytes.size()) + " bytes)");
  if (std::memcmp(bytes.data(), kMagic, kMagicLen) != 0)
    return bad("not a tos checkpoint (bad magic)");
  if (std::memcmp(bytes.data() + bytes.size() - kMagicLen, kEndMagic, kMagicLen) != 0)
    return bad("truncated checkpoint (end marker missing)");
  const size_t body = bytes.size() - kTrailerLen;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), body, digest);
  if (std::memcmp(digest, bytes.data() + body, sizeof digest) != 0)
    return bad("SHA-256 mismatch (corrupt checkpoint)");
  const uint64_t hlen = GetU64(bytes.data() + kMagicLen);
  if (hlen > body - kMagicLen - 8)
    return bad("header length " + std::to_string(hlen) + " exceeds the file");
  const size_t start = kMagicLen + 8 + hlen;
  const std::string_view header_text = bytes.substr(kMagicLen + 8, hlen);
  json h = json::parse(header_text.begin(), header_text.end(), nullptr, false);
  if (h.is_discarded() || !h.is_object()) return bad("header at byte 16 is not a JSON object");
  const std::string where = what + ": header";
  Fields f(h, where);
  std::string format;
  TOS_RETURN_IF_ERROR(f.String("format", &format));
  if (format != kCheckpointFormat)
    return bad("format '" + format + "', expected '" + kCheckpointFormat + "'");
  CheckpointHeader out;
  TOS_RETURN_IF_ERROR(f.Int("global_step", &out.global_step));
  TOS_RETURN_IF_ERROR(f.String("model_type", &out.model_type, /*required=*/false));
  if (auto m = h.find("meta"); m != h.end()) {
    if (!m->is_object()) return bad("header: \"meta\" must be a JSON object");
    out.meta_json = m->dump();
  }
  auto entries = h.find("entries");
  if (entries == h.end() || !entries->is_array()) return bad("header: \"entries\" must be a list");
  *payload = bytes.substr(start, body - start);
  for (size_t i = 0; i < entries->size(); ++i) {
    CheckpointEntry e;
    TOS_RETURN_IF_ERROR(
        ParseEntry((*entries)[i], where + ": entry " + std::to_string(i), payload->size(), &e));
    out.entries.push_back(std::move(e));
  }
  return out;
}

std::string ExportManifestToJson(const ExportManifest& m) {
  json j = {{"format", ExportManifest::kFormat},   {"model_type", m.model_type},
            {"input_shape", m.input_shape},        {"input_dtype", m.input_dtype},
            {"input_scale", m.input_scale},        {"num_classes", m.num_classes},
            {"global_step", m.global_step},        {"model_pt_bytes", m.model_pt_bytes},
            {"model_pt_sha256", m.model_pt_sha256}};
  return j.dump(2) + "\n";
}

Result<ExportManifest> ParseExportManifest(std::string_view text, const std::string& path) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return DataLoss(path + " is not a JSON object (damaged export): re-export the model");
  Fields f(j, path);
  std::string format;
  TOS_RETURN_IF_ERROR(f.String("format", &format, /*required=*/false));
  if (format != ExportManifest::kFormat) {
    return DataLoss(path + ": format '" + format + "', expected '" + ExportManifest::kFormat +
                    "' (an older export has no digest of model.pt to verify it against): " +
                    "re-export the model");
  }
  ExportManifest m;
  TOS_RETURN_IF_ERROR(f.String("model_type", &m.model_type));
  TOS_RETURN_IF_ERROR(f.Dims("input_shape", &m.input_shape));
  TOS_RETURN_IF_ERROR(f.String("input_dtype", &m.input_dtype));
  TOS_RETURN_IF_ERROR(f.Number("input_scale", &m.input_scale));
  if (!std::isfinite(m.input_scale) || m.input_scale <= 0)
    return DataLoss(path + ": \"input_scale\" must be a number above 0");
  TOS_RETURN_IF_ERROR(f.Int("num_classes", &m.num_classes));
  TOS_RETURN_IF_ERROR(f.Int("global_step", &m.global_step));
  TOS_RETURN_IF_ERROR(f.Uint("model_pt_bytes", &m.model_pt_bytes));
  TOS_RETURN_IF_ERROR(f.String("model_pt_sha256", &m.model_pt_sha256));
  if (m.model_pt_sha256.size() != size_t{2} * SHA256_DIGEST_LENGTH ||
      m.model_pt_sha256.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return DataLoss(path + ": \"model_pt_sha256\" is not a SHA-256 in hex");
  }
  return m;
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : digest) {
    hex.push_back(kHex[b >> 4]);
    hex.push_back(kHex[b & 15]);
  }
  return hex;
}

}  // namespace tos
