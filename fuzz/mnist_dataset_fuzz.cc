// MNIST datasets as partitioned directories (examples/mnist/data/mnist_dataset.cc, mnist_codec.cc,
// mnist_pickle.cc): one part of each format read record by record through MnistDataset.
//   byte 0: format (csv, csv2, tfr, pickle) and whether the part is gzip-compressed (the
//           target compresses it, so the decoders see the fuzzed bytes through gzip)
//   bytes 1-2: for csv and pickle, where the rest splits into the images and the labels part
//           (little-endian offset)
#include <string>

#include "fuzz_util.h"
#include "mnist_dataset.h"
#include "tos/compression.h"
#include "tos/partitioned_dir.h"

namespace {

void WritePart(const std::string& dir, bool gzip, std::string_view bytes) {
  tos::fuzz::PutFile(dir.substr(7) + "/" + tos::kSuccessMarker, "");
  std::string part = dir + "/" + tos::PartFileName(0, gzip ? ".gz" : "");
  if (!gzip) {
    tos::fuzz::Fs().SetContents(part, std::string(bytes));
    return;
  }
  auto f = tos::OpenOutputFile(part, tos::Compression::kGzip, 1);
  if (!f.ok()) __builtin_trap();
  if (!(*f)->Append(bytes).ok() || !(*f)->Close().ok()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const tos::DataFormat format = static_cast<tos::DataFormat>(data[0] % 4);
  const bool gzip = (data[0] >> 2) & 1;
  std::string_view rest(reinterpret_cast<const char*>(data) + 3, size - 3);
  const std::string base =
      std::string("fuzz://ds/") + tos::DataFormatName(format) + (gzip ? "-gz" : "");

  tos::MnistDatasetSpec spec;
  spec.format = format;
  spec.images = base + "/images";
  if (format == tos::DataFormat::kCsv || format == tos::DataFormat::kPickle) {
    spec.labels = base + "/labels";
    size_t cut = std::min<size_t>(rest.size(), data[1] | static_cast<size_t>(data[2]) << 8);
    WritePart(spec.images, gzip, rest.substr(0, cut));
    WritePart(spec.labels, gzip, rest.substr(cut));
  } else {
    WritePart(spec.images, gzip, rest);
  }
  auto ds = tos::MnistDataset::Open(spec);
  if (!ds.ok()) return 0;
  for (size_t p = 0; p < (*ds)->num_partitions(); ++p) {
    auto reader = (*ds)->OpenPartition(p);
    if (!reader.ok()) continue;
    uint8_t rec[tos::kMnistRecordBytes];
    for (;;) {
      auto more = (*reader)->Next(rec);
      if (!more.ok() || !*more) break;
      if (rec[0] > 9) __builtin_trap();  // decoders hand out labels 0..9 only
    }
  }
  return 0;
}
