// The local POSIX file system, serving plain paths and file:// URIs.
#pragma once

#include <memory>

#include "tos/fs.h"

namespace tos {

std::shared_ptr<FileSystem> NewLocalFileSystem();

}  // namespace tos
