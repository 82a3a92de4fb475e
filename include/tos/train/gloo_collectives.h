// Collectives over c10d::ProcessGroupGloo (TCP). Available when tos_train was built with
// c10d's Gloo headers (TOS_HAVE_GLOO); otherwise CreateGlooCollectives returns Unimplemented.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "tos/train/collectives.h"

namespace tos::train {

struct GlooOptions {
  int rank = 0;
  int size = 1;
  // Address of this node that the other ranks can reach; Gloo's TCP device listens on it.
  std::string host = "127.0.0.1";
  // Rendezvous and every collective fail after this long (naming the rank that waited).
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  // Keys in the store are prefixed with this, so one store can serve several groups.
  std::string store_prefix = "tos/gloo";
};

// Rendezvous through `store` (c10d::TCPStore, FileStore or the runtime's own store); blocks
// until all `size` ranks have joined or the timeout passes. Sets SIGPIPE to SIG_IGN when it is
// at its default: Gloo's sockets would otherwise kill the process when a peer dies mid-send.
Result<std::unique_ptr<Collectives>> CreateGlooCollectives(
    const c10::intrusive_ptr<c10d::Store>& store, const GlooOptions& options);

}  // namespace tos::train
