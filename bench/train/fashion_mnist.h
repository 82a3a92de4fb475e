// Minimal reader of (Fashion-)MNIST IDX files (.gz), for benchmarks and tests.
#pragma once

#include <torch/types.h>
#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tos::train::bench {

inline bool ReadGz(const std::string& path, std::vector<uint8_t>* out) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  uint8_t buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out->insert(out->end(), buf, buf + n);
  gzclose(f);
  return n == 0;
}

inline uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

struct Dataset {
  torch::Tensor images;  // uint8 [N,784]
  torch::Tensor labels;  // int64 [N]
  bool ok() const {
    return images.defined() && labels.defined() && images.size(0) == labels.size(0);
  }
};

// split: "train" or "t10k".
inline Dataset LoadFashionMnist(const std::string& split,
                                const std::string& dir = "/usr/share/datasets/fashion-mnist") {
  Dataset d;
  std::vector<uint8_t> img, lab;
  if (!ReadGz(dir + "/" + split + "-images-idx3-ubyte.gz", &img) ||
      !ReadGz(dir + "/" + split + "-labels-idx1-ubyte.gz", &lab)) {
    return d;
  }
  if (img.size() < 16 || lab.size() < 8 || BigEndian32(img.data()) != 0x803 ||
      BigEndian32(lab.data()) != 0x801) {
    return d;
  }
  const int64_t n = BigEndian32(img.data() + 4);
  const int64_t rows = BigEndian32(img.data() + 8), cols = BigEndian32(img.data() + 12);
  if (static_cast<int64_t>(img.size()) != 16 + n * rows * cols ||
      static_cast<int64_t>(lab.size()) != 8 + n)
    return d;
  d.images = torch::from_blob(img.data() + 16, {n, rows * cols}, torch::kUInt8).clone();
  d.labels = torch::from_blob(lab.data() + 8, {n}, torch::kUInt8).to(torch::kInt64);
  return d;
}

}  // namespace tos::train::bench
