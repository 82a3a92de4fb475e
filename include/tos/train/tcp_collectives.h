// The runtime's TCP ring (tcp_ring.h, no libtorch) as Collectives on contiguous float32 CPU
// tensors: see tcp_ring.h for the algorithm, its rendezvous and its failures.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "tos/context.h"
#include "tos/train/collectives.h"
#include "tos/train/tcp_ring.h"

namespace tos::train {

using TcpCollectivesOptions = TcpRingOptions;

// Blocks until connected to both ring neighbours or the timeout passes.
Result<std::unique_ptr<Collectives>> CreateTcpCollectives(
    const c10::intrusive_ptr<c10d::Store>& store, const TcpCollectivesOptions& options);

// The easy path: the TCP ring of this job's trainers (chief and workers; rank worker_index(),
// size num_workers()), met through the driver's key-value store under `name`. It listens on the
// node's reserved port while the node still holds it (TOS_NODE_PORT's range, for firewalls). Every
// trainer calls it with the same name; from a ps or evaluator node it is InvalidArgument.
Result<std::unique_ptr<Collectives>> ConnectTrainers(
    Context& ctx, const std::string& name = "trainers",
    std::chrono::milliseconds timeout = std::chrono::minutes(5));

}  // namespace tos::train
