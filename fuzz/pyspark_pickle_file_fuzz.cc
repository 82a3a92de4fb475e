// PySpark pickle files (src/formats/pyspark_pickle_file.cc): the SequenceFile header, its
// records and sync markers, the Java-serialized byte[][] values and the pickles inside.
#include <string>

#include "fuzz_util.h"
#include "tos/pyspark_pickle_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string uri = tos::fuzz::PutFile("pyspark/part-00000",
                                       std::string_view(reinterpret_cast<const char*>(data), size));
  auto r = tos::PySparkPickleReader::Open(uri);
  if (!r.ok()) return 0;
  tos::PickleRef element;
  for (int k = 0; k < 100000; ++k) {
    auto more = (*r)->Next(&element);
    if (!more.ok() || !*more) break;
    (void)element->Describe();
  }
  return 0;
}
