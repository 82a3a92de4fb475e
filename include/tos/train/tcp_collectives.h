// Collectives over plain TCP, run entirely in the calling thread (no helper threads).
//
// Ring allreduce (reduce-scatter then allgather over N chunks): each chunk's sum is computed
// by exactly one rank and then copied to the others, so every rank ends with bit-identical
// values. Each rank keeps one connection to its successor and one from its predecessor;
// sending and receiving progress together through poll(), so no thread hand-off happens on
// the hot path — on a busy machine (several trainers sharing cores) that is what dominates
// the cost of a small allreduce. Needs no Gloo headers, so it also builds against libtorch
// distributions that ship without them.
//
// Rendezvous goes through the caller's c10d::Store: rank r publishes "<prefix>/addr/<r>" =
// "host:port" of its listening socket; connections start with an 8-byte hello (magic, rank)
// that the acceptor checks. Failures and timeouts name the peer rank and its address.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "tos/context.h"
#include "tos/train/collectives.h"

namespace tos::train {

struct TcpCollectivesOptions {
  int rank = 0;
  int size = 1;
  std::string host = "127.0.0.1";  // address of this node that the other ranks can reach
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};  // rendezvous and each operation
  std::string store_prefix = "tos/tcpring";
  // A bound socket to listen on (ownership passes to the ring), such as the node's reserved
  // port, so that the ring stays in TOS_NODE_PORT's range; -1: a new socket on `host`, any port.
  int listen_fd = -1;
};

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
