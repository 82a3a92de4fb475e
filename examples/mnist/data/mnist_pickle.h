// MNIST in PySpark pickle files (the seed's "pickle" format): images/ holds one uint8 array
// of 784 pixels per element, labels/ one float64 one-hot array of 10 per element, part i of
// each directory paired. Spec: docs/formats.md, "pickle".
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "mnist_dataset.h"
#include "tos/fs.h"

namespace tos {

Result<std::unique_ptr<MnistPartitionReader>> OpenMnistPicklePartition(
    const std::string& images_part, const std::string& labels_part);

// Writes canonical records [begin, end) (`get` fills record r into its buffer) to an images
// and a labels part file, and closes both.
Status WriteMnistPicklePartition(std::unique_ptr<WritableFile> images_file,
                                 std::unique_ptr<WritableFile> labels_file, size_t begin,
                                 size_t end,
                                 const std::function<const uint8_t*(size_t, uint8_t*)>& get);

}  // namespace tos
