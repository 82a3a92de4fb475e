#include "idx.h"

#include <algorithm>
#include <cstdio>

#include "tos/fs.h"

namespace tos {
namespace {

size_t ElementSize(uint8_t type) {
  switch (type) {
    case 0x08:  // unsigned byte
    case 0x09:  // signed byte
      return 1;
    case 0x0B:
      return 2;  // short
    case 0x0C:   // int
    case 0x0D:   // float
      return 4;
    case 0x0E:
      return 8;  // double
    default:
      return 0;
  }
}

std::string Hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08X", v);
  return buf;
}

std::string DimsString(const std::vector<uint32_t>& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += "x";
    s += std::to_string(dims[i]);
  }
  return s;
}

// Reads until n bytes are in buf or the file ends; returns how many were read.
Result<size_t> ReadUpTo(SequentialFile* f, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    TOS_ASSIGN_OR_RETURN(size_t k, f->Read(buf + got, n - got));
    if (k == 0) break;
    got += k;
  }
  return got;
}

Result<bool> SniffGzip(const std::string& uri) {
  TOS_ASSIGN_OR_RETURN(auto raw, OpenInputFile(uri));
  char head[2];
  TOS_ASSIGN_OR_RETURN(size_t got, ReadUpTo(raw.get(), head, 2));
  return LooksGzipped(std::string_view(head, got));
}

// The data of a compressed file is read in steps that start at this size and double up to
// kMaxStep, so a lying gzip header costs memory only in proportion to the bytes really present.
constexpr size_t kFirstStep = 64 << 10;
constexpr size_t kMaxStep = 16 << 20;

}  // namespace

Result<IdxArray> ReadIdx(const std::string& uri) {
  TOS_ASSIGN_OR_RETURN(bool gz, SniffGzip(uri));
  TOS_ASSIGN_OR_RETURN(auto file, OpenInputFile(uri, gz ? Compression::kGzip : Compression::kNone));
  // The header: a 4-byte magic number, then one 4-byte size per dimension (at most 255).
  char head[4 + 4 * 255];
  TOS_ASSIGN_OR_RETURN(size_t have, ReadUpTo(file.get(), head, 4));
  if (have < 4) {
    return DataLoss(uri + ": truncated IDX header: the file ends at byte " + std::to_string(have) +
                    ", before the 4-byte magic number");
  }
  const auto* h = reinterpret_cast<const uint8_t*>(head);
  const uint32_t magic = uint32_t{h[0]} << 24 | uint32_t{h[1]} << 16 | uint32_t{h[2]} << 8 | h[3];
  IdxArray out;
  out.type = h[2];
  const size_t ndims = h[3];
  if (h[0] != 0 || h[1] != 0 || ElementSize(out.type) == 0 || ndims == 0) {
    return DataLoss(uri + ": byte 0: wrong IDX magic " + Hex32(magic) +
                    ": expected 0x0000TTDD (TT = element type 08/09/0B/0C/0D/0E, DD = number "
                    "of dimensions > 0), e.g. 0x00000803 for MNIST images" +
                    (gz ? "" : " (gzip-compressed files are detected by their magic bytes)"));
  }
  const size_t header = 4 + 4 * ndims;
  TOS_ASSIGN_OR_RETURN(size_t dims_have, ReadUpTo(file.get(), head + 4, header - 4));
  if (4 + dims_have < header) {
    return DataLoss(uri + ": truncated IDX header: " + std::to_string(ndims) + " dimensions need " +
                    std::to_string(header) + " header bytes, the file has " +
                    std::to_string(4 + dims_have));
  }
  uint64_t count = 1;
  for (size_t i = 0; i < ndims; ++i) {
    const uint8_t* d = h + 4 + 4 * i;
    uint32_t dim = uint32_t{d[0]} << 24 | uint32_t{d[1]} << 16 | uint32_t{d[2]} << 8 | d[3];
    out.dims.push_back(dim);
    count *= dim;
    if (count > (uint64_t{1} << 40)) {
      return DataLoss(uri + ": byte " + std::to_string(4 + 4 * i) +
                      ": implausible IDX dimensions " + DimsString(out.dims));
    }
  }
  const uint64_t payload = count * ElementSize(out.type);
  size_t step = kFirstStep;
  if (!gz) {
    // The size of a raw file is known up front: refuse a mismatch before reading.
    TOS_ASSIGN_OR_RETURN(FileSystem * fs, GetFileSystem(uri));
    TOS_ASSIGN_OR_RETURN(uint64_t size, fs->GetFileSize(uri));
    if (size != header + payload) {
      return DataLoss(uri + ": IDX header at byte 4 declares dimensions " + DimsString(out.dims) +
                      " (" + std::to_string(header + payload) +
                      " bytes with the header) but the file is " + std::to_string(size) + " bytes" +
                      (size < header + payload ? " (truncated)" : " (trailing bytes)"));
    }
    step = payload;
  }
  while (out.data.size() < payload) {
    const size_t at = out.data.size();
    const size_t want = std::min<uint64_t>(step, payload - at);
    out.data.resize(at + want);
    TOS_ASSIGN_OR_RETURN(size_t got,
                         ReadUpTo(file.get(), reinterpret_cast<char*>(out.data.data() + at), want));
    if (got < want) {
      return DataLoss(uri + ": truncated IDX data: dimensions " + DimsString(out.dims) + " need " +
                      std::to_string(payload) + " data bytes after the " + std::to_string(header) +
                      "-byte header, the " + (gz ? "decompressed " : "") + "data ends at byte " +
                      std::to_string(header + at + got));
    }
    step = std::min(step * 2, kMaxStep);
  }
  char extra;
  TOS_ASSIGN_OR_RETURN(size_t extra_bytes, ReadUpTo(file.get(), &extra, 1));
  if (extra_bytes != 0) {
    return DataLoss(uri + ": trailing bytes after the IDX data at " + (gz ? "decompressed " : "") +
                    "byte " + std::to_string(header + payload) + " (dimensions " +
                    DimsString(out.dims) + ")");
  }
  return out;
}

Status WriteIdx(const std::string& uri, const IdxArray& array, Compression c) {
  const size_t elem = ElementSize(array.type);
  if (elem == 0 || array.dims.empty() || array.dims.size() > 255) {
    return InvalidArgument(uri + ": WriteIdx: bad element type or dimensions");
  }
  uint64_t count = 1;
  for (uint32_t d : array.dims) count *= d;
  if (count * elem != array.data.size()) {
    return InvalidArgument(uri + ": WriteIdx: dimensions " + DimsString(array.dims) + " need " +
                           std::to_string(count * elem) + " bytes, got " +
                           std::to_string(array.data.size()));
  }
  std::string header = {0, 0, static_cast<char>(array.type), static_cast<char>(array.dims.size())};
  for (uint32_t d : array.dims) {
    for (int s = 24; s >= 0; s -= 8) header.push_back(static_cast<char>(d >> s));
  }
  TOS_ASSIGN_OR_RETURN(auto file, OpenOutputFile(uri, c));
  TOS_RETURN_IF_ERROR(file->Append(header));
  TOS_RETURN_IF_ERROR(file->Append(
      std::string_view(reinterpret_cast<const char*>(array.data.data()), array.data.size())));
  return file->Close();
}

Result<MnistArrays> ReadMnistIdx(const std::string& images_uri, const std::string& labels_uri) {
  TOS_ASSIGN_OR_RETURN(IdxArray images, ReadIdx(images_uri));
  if (images.type != kIdxTypeUint8 || images.dims.size() != 3) {
    return DataLoss(images_uri + ": byte 0: wrong IDX magic " +
                    Hex32(uint32_t{images.type} << 8 | static_cast<uint32_t>(images.dims.size())) +
                    " for MNIST images: expected " + Hex32(kIdxImagesMagic) + " (uint8, 3 dims)");
  }
  if (images.dims[1] != 28 || images.dims[2] != 28) {
    return DataLoss(images_uri + ": byte 8: images are " + std::to_string(images.dims[1]) + "x" +
                    std::to_string(images.dims[2]) + ", expected 28x28");
  }
  TOS_ASSIGN_OR_RETURN(IdxArray labels, ReadIdx(labels_uri));
  if (labels.type != kIdxTypeUint8 || labels.dims.size() != 1) {
    return DataLoss(labels_uri + ": byte 0: wrong IDX magic " +
                    Hex32(uint32_t{labels.type} << 8 | static_cast<uint32_t>(labels.dims.size())) +
                    " for MNIST labels: expected " + Hex32(kIdxLabelsMagic) + " (uint8, 1 dim)");
  }
  if (images.dims[0] != labels.dims[0]) {
    return InvalidArgument("image/label count mismatch: " + images_uri + " holds " +
                           std::to_string(images.dims[0]) + " images but " + labels_uri +
                           " holds " + std::to_string(labels.dims[0]) + " labels");
  }
  for (size_t i = 0; i < labels.data.size(); ++i) {
    if (labels.data[i] > 9) {
      return DataLoss(labels_uri + ": byte " + std::to_string(8 + i) + ": label " +
                      std::to_string(labels.data[i]) + " of item " + std::to_string(i) +
                      " is out of range 0..9");
    }
  }
  MnistArrays out;
  out.n = images.dims[0];
  out.images = std::move(images.data);
  out.labels = std::move(labels.data);
  return out;
}

}  // namespace tos
