// IDX files (the MNIST family's format), raw or gzip-compressed. Spec: docs/formats.md#idx.
//
//   byte 0, 1: 0x00 0x00 | byte 2: element type (0x08 = uint8) | byte 3: number of dimensions
//   then one big-endian uint32 per dimension, then the elements in row-major order.
//
// Readers detect gzip by its magic bytes, check the header against the data length and refuse
// anything short or long with DataLoss naming the file and byte offset.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tos/compression.h"
#include "tos/status.h"

namespace tos {

constexpr uint8_t kIdxTypeUint8 = 0x08;
constexpr uint32_t kIdxImagesMagic = 0x00000803;  // uint8, 3 dimensions
constexpr uint32_t kIdxLabelsMagic = 0x00000801;  // uint8, 1 dimension

struct IdxArray {
  uint8_t type = kIdxTypeUint8;
  std::vector<uint32_t> dims;
  std::vector<uint8_t> data;  // raw element bytes (big-endian for multi-byte types)
};

// Reads a whole IDX file (gzip detected from the first two bytes).
Result<IdxArray> ReadIdx(const std::string& uri);

// Writes an IDX file; data.size() must equal the product of dims times the element size.
Status WriteIdx(const std::string& uri, const IdxArray& array, Compression c = Compression::kNone);

// An MNIST split: images uint8 [n, 28, 28], labels uint8 [n] in 0..9.
struct MnistArrays {
  size_t n = 0;
  std::vector<uint8_t> images;  // n * 784
  std::vector<uint8_t> labels;  // n
};

// Reads and cross-checks an images file (magic 0x00000803, [N,28,28]) and a labels file (magic
// 0x00000801, [N], values 0..9). Counts that disagree are InvalidArgument naming both files.
Result<MnistArrays> ReadMnistIdx(const std::string& images_uri, const std::string& labels_uri);

}  // namespace tos
