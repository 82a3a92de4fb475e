// PySpark pickle files: what rdd.saveAsPickleFile() writes and sc.pickleFile() reads
// (docs/formats.md, "pickle"). Each part file is a Hadoop SequenceFile (version 6,
// uncompressed) of NullWritable keys and BytesWritable values; each value is a Java-serialized
// byte[][] of up to 10 pickles; each pickle is a list of up to batchSize RDD elements.
//
// Threading: a reader or writer belongs to one thread. Errors name the file and byte offset.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tos/fs.h"
#include "tos/pickle.h"
#include "tos/status.h"

namespace tos {

class PySparkPickleReader {
 public:
  // Reads and checks the SequenceFile header. Refuses compressed files and key/value classes
  // other than NullWritable/BytesWritable, naming what it found.
  static Result<std::unique_ptr<PySparkPickleReader>> Open(const std::string& uri);
  ~PySparkPickleReader();

  // The next RDD element of the file; false at the end. Memory: one SequenceFile record.
  Result<bool> Next(PickleRef* element);

 private:
  struct Impl;
  explicit PySparkPickleReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class PySparkPickleWriter {
 public:
  // Writes the header to `file` (which the writer owns from now on).
  static Result<std::unique_ptr<PySparkPickleWriter>> Create(std::unique_ptr<WritableFile> file,
                                                             size_t batch_size = 10);
  ~PySparkPickleWriter();
  // One RDD element, as made by AppendPickledArray / AppendPickledIntList / ... (tos/pickle.h).
  Status Add(std::string element_pickle);
  Status Close();  // flushes the last batch; the file is complete only after an OK Close

 private:
  struct Impl;
  explicit PySparkPickleWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tos
